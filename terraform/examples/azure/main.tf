# Example: storage accounts for the Azure sites of runbooks/multi-cloud.yaml.
#   dro terraform export runbooks/multi-cloud.yaml --provider azure --out terraform/examples/azure
#   terraform -chdir=terraform/examples/azure init && terraform -chdir=terraform/examples/azure apply

provider "azurerm" {
  features {}
}

module "dr_storage" {
  source = "../../modules/azure-dr-storage"

  runbook_name        = var.runbook_name
  resource_group_name = var.resource_group_name
  primary_site        = var.primary_site
  recovery_site       = var.recovery_site
  primary_account     = var.primary_account
  recovery_account    = var.recovery_account
  primary_location    = var.primary_location
  recovery_location   = var.recovery_location
  container           = var.container
  immutability_days   = var.immutability_days
  data_classes        = var.data_classes
}

output "dro" {
  description = "Compared with the runbook by `dro terraform check`."
  value       = module.dr_storage.dro
}
