# Example: DR buckets for runbooks/aws-multi-region.yaml.
#   dro terraform export runbooks/aws-multi-region.yaml --provider aws --out terraform/examples/aws
#   terraform -chdir=terraform/examples/aws init && terraform -chdir=terraform/examples/aws apply
#   terraform -chdir=terraform/examples/aws output -json > outputs.json
#   dro terraform check runbooks/aws-multi-region.yaml --outputs outputs.json

provider "aws" {
  alias  = "primary"
  region = var.primary_region
}

provider "aws" {
  alias  = "recovery"
  region = var.recovery_region
}

module "dr_storage" {
  source = "../../modules/aws-dr-storage"
  providers = {
    aws.primary  = aws.primary
    aws.recovery = aws.recovery
  }

  runbook_name           = var.runbook_name
  primary_site           = var.primary_site
  recovery_site          = var.recovery_site
  primary_region         = var.primary_region
  recovery_region        = var.recovery_region
  primary_bucket         = var.primary_bucket
  recovery_bucket        = var.recovery_bucket
  primary_prefix         = var.primary_prefix
  recovery_prefix        = var.recovery_prefix
  object_lock_mode       = var.object_lock_mode
  default_retention_days = var.default_retention_days
  data_classes           = var.data_classes
}

output "dro" {
  description = "Compared with the runbook by `dro terraform check`."
  value       = module.dr_storage.dro
}
