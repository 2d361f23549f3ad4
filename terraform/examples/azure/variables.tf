# Values come from `dro terraform export --provider azure` (dro.auto.tfvars.json), except the resource group.

variable "resource_group_name" {
  description = "Existing resource group (set it yourself, e.g. in terraform.tfvars)."
  type        = string
}

variable "runbook_name" {
  description = "Runbook name."
  type        = string
}

variable "primary_site" {
  description = "Primary site name in the runbook."
  type        = string
}

variable "recovery_site" {
  description = "Recovery site name in the runbook."
  type        = string
}

variable "primary_account" {
  description = "Primary storage account name."
  type        = string
}

variable "recovery_account" {
  description = "Recovery storage account name."
  type        = string
}

variable "primary_location" {
  description = "Primary Azure region."
  type        = string
}

variable "recovery_location" {
  description = "Recovery Azure region."
  type        = string
}

variable "container" {
  description = "Container holding the dro repositories."
  type        = string
  default     = "dro"
}

variable "immutability_days" {
  description = "Version-level immutability days (0 = off)."
  type        = number
  default     = 0
}

variable "data_classes" {
  description = "Per data class: prefix, lock_days, replicate, noncurrent_days."
  type = map(object({
    prefix          = string
    lock_days       = number
    replicate       = bool
    noncurrent_days = number
  }))
  default = {}
}
