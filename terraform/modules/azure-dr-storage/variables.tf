variable "runbook_name" {
  description = "Name of the dr-orchestrator runbook these accounts serve (used in tags)."
  type        = string
}

variable "resource_group_name" {
  description = "Existing resource group for both storage accounts."
  type        = string
}

variable "primary_site" {
  description = "Runbook site name of the primary side (key in the `dro` output)."
  type        = string
}

variable "recovery_site" {
  description = "Runbook site name of the recovery side (key in the `dro` output)."
  type        = string
}

variable "primary_account" {
  description = "Storage account name of the primary site (the runbook's az://ACCOUNT/container URL names it)."
  type        = string
}

variable "recovery_account" {
  description = "Storage account name of the recovery site."
  type        = string
}

variable "primary_location" {
  description = "Azure region of the primary account, e.g. westeurope."
  type        = string
}

variable "recovery_location" {
  description = "Azure region of the recovery account, e.g. northeurope."
  type        = string
}

variable "container" {
  description = "Container that holds the dro repositories, created in both accounts."
  type        = string
  default     = "dro"
}

variable "replication_type" {
  description = "Account replication: LRS/ZRS with dro + object replication between two accounts, or GRS/GZRS/RAGRS/RAGZRS for Microsoft's paired-region copy."
  type        = string
  default     = "ZRS"
  validation {
    condition     = contains(["LRS", "ZRS", "GRS", "GZRS", "RAGRS", "RAGZRS"], var.replication_type)
    error_message = "replication_type must be one of LRS, ZRS, GRS, GZRS, RAGRS, RAGZRS."
  }
}

variable "immutability_days" {
  description = "Version-level immutability (WORM) period in days for new blob versions (0 = off). Use the longest immutable_for of the data classes."
  type        = number
  default     = 0
}

variable "immutability_state" {
  description = "Unlocked (can be changed) or Locked (can only be extended)."
  type        = string
  default     = "Unlocked"
  validation {
    condition     = contains(["Unlocked", "Locked", "Disabled"], var.immutability_state)
    error_message = "immutability_state must be Unlocked, Locked or Disabled."
  }
}

variable "data_classes" {
  description = "Per data class: blob prefix of its repository, lock days, whether object replication copies it to the recovery account, and days non-current versions are kept."
  type = map(object({
    prefix          = string
    lock_days       = number
    replicate       = bool
    noncurrent_days = number
  }))
  default = {}
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
