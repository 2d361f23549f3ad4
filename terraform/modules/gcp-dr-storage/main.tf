# DR storage on GCP: either two regional buckets (dro replicates between them and
# verifies) or one dual-region bucket with turbo replication (Google carries the
# bytes). Versioning, optional retention policy (WORM) and lifecycle for old versions.

locals {
  labels     = merge(var.labels, { "dr-orchestrator-runbook" = lower(replace(var.runbook_name, "/[^a-zA-Z0-9_-]/", "-")) })
  dual       = var.dual_region_location != ""
  oldest_ttl = length(var.data_classes) == 0 ? 30 : max([for dc in values(var.data_classes) : dc.lock_days + dc.noncurrent_days]...)
  buckets = local.dual ? {
    primary = { name = var.primary_bucket, location = var.dual_region_location }
    } : {
    primary  = { name = var.primary_bucket, location = var.primary_location }
    recovery = { name = var.recovery_bucket, location = var.recovery_location }
  }
}

resource "google_storage_bucket" "site" {
  for_each                    = local.buckets
  project                     = var.project
  name                        = each.value.name
  location                    = each.value.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = local.labels
  rpo                         = local.dual ? "ASYNC_TURBO" : null

  versioning {
    enabled = true
  }

  dynamic "retention_policy" {
    for_each = var.retention_days > 0 ? [1] : []
    content {
      retention_period = var.retention_days * 86400
      is_locked        = var.lock_retention_policy
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == "" ? [] : [1]
    content {
      default_kms_key_name = var.kms_key_name
    }
  }

  # Non-current versions live as long as the longest lock plus grace, then go.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = local.oldest_ttl
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }
}
