output "primary_url" {
  description = "dro storage URL of the primary bucket."
  value       = "gs://${google_storage_bucket.site["primary"].name}"
}

output "recovery_url" {
  description = "dro storage URL of the recovery bucket (the same dual-region bucket when dual_region_location is set)."
  value       = local.dual ? "gs://${google_storage_bucket.site["primary"].name}" : "gs://${google_storage_bucket.site["recovery"].name}"
}

output "dro" {
  description = "What `dro terraform check` compares with the runbook: sites (bucket, region, url) and data classes (lock days, replicate)."
  value = {
    provider = "gcp"
    sites = {
      (var.primary_site) = {
        bucket = google_storage_bucket.site["primary"].name
        region = lower(google_storage_bucket.site["primary"].location)
        url    = "gs://${google_storage_bucket.site["primary"].name}"
      }
      (var.recovery_site) = {
        bucket = local.dual ? google_storage_bucket.site["primary"].name : google_storage_bucket.site["recovery"].name
        region = local.dual ? lower(var.dual_region_location) : lower(google_storage_bucket.site["recovery"].location)
        url    = local.dual ? "gs://${google_storage_bucket.site["primary"].name}" : "gs://${google_storage_bucket.site["recovery"].name}"
      }
    }
    data_classes = {
      for name, dc in var.data_classes : name => {
        lock_days = dc.lock_days
        lock_mode = var.lock_retention_policy ? "LOCKED" : "UNLOCKED"
        replicate = dc.replicate
      }
    }
  }
}
