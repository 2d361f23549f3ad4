output "primary_url" {
  description = "dro storage URL of the primary container."
  value       = "az://${azurerm_storage_account.site["primary"].name}/${var.container}"
}

output "recovery_url" {
  description = "dro storage URL of the recovery container."
  value       = "az://${azurerm_storage_account.site["recovery"].name}/${var.container}"
}

output "dro" {
  description = "What `dro terraform check` compares with the runbook: sites (account, region, url) and data classes (lock days, replicate)."
  value = {
    provider = "azure"
    sites = {
      (var.primary_site) = {
        bucket = azurerm_storage_account.site["primary"].name
        region = var.primary_location
        url    = "az://${azurerm_storage_account.site["primary"].name}/${var.container}"
      }
      (var.recovery_site) = {
        bucket = azurerm_storage_account.site["recovery"].name
        region = var.recovery_location
        url    = "az://${azurerm_storage_account.site["recovery"].name}/${var.container}"
      }
    }
    data_classes = {
      for name, dc in var.data_classes : name => {
        lock_days = dc.lock_days
        lock_mode = var.immutability_state
        replicate = dc.replicate
      }
    }
  }
}
