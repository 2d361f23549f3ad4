output "primary_url" {
  description = "dro storage URL of the primary bucket (put it in the primary site's `storage`)."
  value       = "s3://${aws_s3_bucket.primary.bucket}/${var.primary_prefix}?region=${var.primary_region}"
}

output "recovery_url" {
  description = "dro storage URL of the recovery bucket (put it in the recovery site's `storage`)."
  value       = "s3://${aws_s3_bucket.recovery.bucket}/${var.recovery_prefix}?region=${var.recovery_region}"
}

output "replication_role_arn" {
  description = "ARN of the IAM role S3 replication assumes (null when no data class replicates)."
  value       = length(aws_iam_role.replication) > 0 ? aws_iam_role.replication[0].arn : null
}

output "dro" {
  description = "What `dro terraform check` compares with the runbook: sites (bucket, region, url) and data classes (lock days, mode, replicate)."
  value = {
    provider = "aws"
    sites = {
      (var.primary_site) = {
        bucket = aws_s3_bucket.primary.bucket
        region = var.primary_region
        url    = "s3://${aws_s3_bucket.primary.bucket}/${var.primary_prefix}?region=${var.primary_region}"
      }
      (var.recovery_site) = {
        bucket = aws_s3_bucket.recovery.bucket
        region = var.recovery_region
        url    = "s3://${aws_s3_bucket.recovery.bucket}/${var.recovery_prefix}?region=${var.recovery_region}"
      }
    }
    data_classes = {
      for name, dc in var.data_classes : name => {
        lock_days = dc.lock_days
        lock_mode = var.object_lock_mode
        replicate = dc.replicate
      }
    }
  }
}
