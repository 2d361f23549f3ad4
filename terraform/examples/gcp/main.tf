# Example: GCS buckets for the GCP sites of runbooks/multi-cloud.yaml.
#   dro terraform export runbooks/multi-cloud.yaml --provider gcp --out terraform/examples/gcp
#   terraform -chdir=terraform/examples/gcp init && terraform -chdir=terraform/examples/gcp apply

provider "google" {
  project = var.project
}

module "dr_storage" {
  source = "../../modules/gcp-dr-storage"

  runbook_name      = var.runbook_name
  project           = var.project
  primary_site      = var.primary_site
  recovery_site     = var.recovery_site
  primary_bucket    = var.primary_bucket
  recovery_bucket   = var.recovery_bucket
  primary_location  = var.primary_location
  recovery_location = var.recovery_location
  retention_days    = var.retention_days
  data_classes      = var.data_classes
}

output "dro" {
  description = "Compared with the runbook by `dro terraform check`."
  value       = module.dr_storage.dro
}
