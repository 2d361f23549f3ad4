# DR storage on AWS: a primary and a recovery bucket in two regions, versioned,
# encrypted, Object Lock enabled, lifecycle for old versions, and native S3
# cross-region replication per data class. dro writes its repositories into these
# buckets and verifies what S3 replication carries.

locals {
  tags = merge(var.tags, { "dr-orchestrator/runbook" = var.runbook_name })
  sides = {
    primary  = { bucket = var.primary_bucket, region = var.primary_region, prefix = var.primary_prefix }
    recovery = { bucket = var.recovery_bucket, region = var.recovery_region, prefix = var.recovery_prefix }
  }
  replicated = { for name, dc in var.data_classes : name => dc if dc.replicate }
}

resource "aws_s3_bucket" "primary" {
  provider            = aws.primary
  bucket              = var.primary_bucket
  object_lock_enabled = true
  force_destroy       = var.force_destroy
  tags                = local.tags
}

resource "aws_s3_bucket" "recovery" {
  provider            = aws.recovery
  bucket              = var.recovery_bucket
  object_lock_enabled = true
  force_destroy       = var.force_destroy
  tags                = local.tags
}

resource "aws_s3_bucket_public_access_block" "primary" {
  provider                = aws.primary
  bucket                  = aws_s3_bucket.primary.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_public_access_block" "recovery" {
  provider                = aws.recovery
  bucket                  = aws_s3_bucket.recovery.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "primary" {
  provider = aws.primary
  bucket   = aws_s3_bucket.primary.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_versioning" "recovery" {
  provider = aws.recovery
  bucket   = aws_s3_bucket.recovery.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "primary" {
  provider = aws.primary
  bucket   = aws_s3_bucket.primary.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = lookup(var.kms_key_arns, "primary", "") == "" ? "AES256" : "aws:kms"
      kms_master_key_id = lookup(var.kms_key_arns, "primary", "") == "" ? null : var.kms_key_arns["primary"]
    }
    bucket_key_enabled = lookup(var.kms_key_arns, "primary", "") != ""
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "recovery" {
  provider = aws.recovery
  bucket   = aws_s3_bucket.recovery.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = lookup(var.kms_key_arns, "recovery", "") == "" ? "AES256" : "aws:kms"
      kms_master_key_id = lookup(var.kms_key_arns, "recovery", "") == "" ? null : var.kms_key_arns["recovery"]
    }
    bucket_key_enabled = lookup(var.kms_key_arns, "recovery", "") != ""
  }
}

resource "aws_s3_bucket_object_lock_configuration" "primary" {
  count    = var.default_retention_days > 0 ? 1 : 0
  provider = aws.primary
  bucket   = aws_s3_bucket.primary.id
  rule {
    default_retention {
      mode = var.object_lock_mode
      days = var.default_retention_days
    }
  }
}

resource "aws_s3_bucket_object_lock_configuration" "recovery" {
  count    = var.default_retention_days > 0 ? 1 : 0
  provider = aws.recovery
  bucket   = aws_s3_bucket.recovery.id
  rule {
    default_retention {
      mode = var.object_lock_mode
      days = var.default_retention_days
    }
  }
}

# Old versions are kept while their lock can still hold, then expire; incomplete
# multipart uploads (a crashed backup) are cleaned after a day.
resource "aws_s3_bucket_lifecycle_configuration" "primary" {
  provider   = aws.primary
  bucket     = aws_s3_bucket.primary.id
  depends_on = [aws_s3_bucket_versioning.primary]

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  dynamic "rule" {
    for_each = var.data_classes
    content {
      id     = "noncurrent-${rule.key}"
      status = "Enabled"
      filter {
        prefix = "${var.primary_prefix}${rule.value.prefix}"
      }
      noncurrent_version_expiration {
        noncurrent_days = rule.value.lock_days + rule.value.noncurrent_days
      }
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "recovery" {
  provider   = aws.recovery
  bucket     = aws_s3_bucket.recovery.id
  depends_on = [aws_s3_bucket_versioning.recovery]

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  dynamic "rule" {
    for_each = var.data_classes
    content {
      id     = "noncurrent-${rule.key}"
      status = "Enabled"
      filter {
        prefix = "${var.recovery_prefix}${rule.value.prefix}"
      }
      noncurrent_version_expiration {
        noncurrent_days = rule.value.lock_days + rule.value.noncurrent_days
      }
    }
  }
}
