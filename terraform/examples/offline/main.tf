# Offline example: uses only Terraform built-ins (no provider download), so it runs
# anywhere, CI included. It takes the same variables `dro terraform export --provider aws`
# writes and publishes the same `dro` output shape as the cloud modules, which lets a test
# run export -> terraform apply -> terraform output -json -> dro terraform check end to end.

terraform {
  required_version = ">= 1.5"
}

resource "terraform_data" "dr_storage" {
  input = {
    primary  = { bucket = var.primary_bucket, region = var.primary_region, prefix = var.primary_prefix }
    recovery = { bucket = var.recovery_bucket, region = var.recovery_region, prefix = var.recovery_prefix }
  }
}

output "dro" {
  description = "Same shape as module output `dro` of terraform/modules/*-dr-storage."
  value = {
    provider = "aws"
    sites = {
      (var.primary_site) = {
        bucket = terraform_data.dr_storage.output.primary.bucket
        region = terraform_data.dr_storage.output.primary.region
        url    = "s3://${var.primary_bucket}/${var.primary_prefix}?region=${var.primary_region}"
      }
      (var.recovery_site) = {
        bucket = terraform_data.dr_storage.output.recovery.bucket
        region = terraform_data.dr_storage.output.recovery.region
        url    = "s3://${var.recovery_bucket}/${var.recovery_prefix}?region=${var.recovery_region}"
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
