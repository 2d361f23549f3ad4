# DR storage on Azure: a storage account per site (two regions), versioning and
# change feed (needed by object replication), version-level immutability, a
# container for dro, lifecycle for old versions, and an object replication policy
# primary -> recovery for the data classes that replicate.

locals {
  tags       = merge(var.tags, { "dr-orchestrator-runbook" = var.runbook_name })
  replicated = { for name, dc in var.data_classes : name => dc if dc.replicate }
  accounts = {
    primary  = { name = var.primary_account, location = var.primary_location }
    recovery = { name = var.recovery_account, location = var.recovery_location }
  }
  oldest_ttl = length(var.data_classes) == 0 ? 30 : max([for dc in values(var.data_classes) : dc.lock_days + dc.noncurrent_days]...)
}

resource "azurerm_storage_account" "site" {
  for_each                        = local.accounts
  name                            = each.value.name
  resource_group_name             = var.resource_group_name
  location                        = each.value.location
  account_tier                    = "Standard"
  account_kind                    = "StorageV2"
  account_replication_type        = var.replication_type
  min_tls_version                 = "TLS1_2"
  allow_nested_items_to_be_public = false
  https_traffic_only_enabled      = true
  tags                            = local.tags

  blob_properties {
    versioning_enabled  = true
    change_feed_enabled = true
    delete_retention_policy {
      days = 7
    }
  }

  dynamic "immutability_policy" {
    for_each = var.immutability_days > 0 ? [1] : []
    content {
      allow_protected_append_writes = false
      state                         = var.immutability_state
      period_since_creation_in_days = var.immutability_days
    }
  }
}

resource "azurerm_storage_container" "dro" {
  for_each              = local.accounts
  name                  = var.container
  storage_account_id    = azurerm_storage_account.site[each.key].id
  container_access_type = "private"
}

resource "azurerm_storage_management_policy" "site" {
  for_each           = local.accounts
  storage_account_id = azurerm_storage_account.site[each.key].id

  rule {
    name    = "expire-old-versions"
    enabled = true
    filters {
      blob_types   = ["blockBlob"]
      prefix_match = ["${var.container}/"]
    }
    actions {
      version {
        delete_after_days_since_creation = local.oldest_ttl
      }
    }
  }
}

resource "azurerm_storage_object_replication" "primary_to_recovery" {
  count                          = length(local.replicated) > 0 ? 1 : 0
  source_storage_account_id      = azurerm_storage_account.site["primary"].id
  destination_storage_account_id = azurerm_storage_account.site["recovery"].id

  rules {
    source_container_name        = azurerm_storage_container.dro["primary"].name
    destination_container_name   = azurerm_storage_container.dro["recovery"].name
    filter_out_blobs_with_prefix = [for dc in values(local.replicated) : dc.prefix]
    copy_blobs_created_after     = "Everything"
  }
}
