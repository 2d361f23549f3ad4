# Values come from `dro terraform export` (dro.auto.tfvars.json), so the runbook stays the single source of truth.

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

variable "primary_region" {
  description = "AWS region of the primary site."
  type        = string
}

variable "recovery_region" {
  description = "AWS region of the recovery site."
  type        = string
}

variable "primary_bucket" {
  description = "Primary bucket name."
  type        = string
}

variable "recovery_bucket" {
  description = "Recovery bucket name."
  type        = string
}

variable "primary_prefix" {
  description = "Key prefix in the primary bucket."
  type        = string
  default     = ""
}

variable "recovery_prefix" {
  description = "Key prefix in the recovery bucket."
  type        = string
  default     = ""
}

variable "object_lock_mode" {
  description = "COMPLIANCE or GOVERNANCE."
  type        = string
  default     = "COMPLIANCE"
}

variable "default_retention_days" {
  description = "Bucket default retention days (0 = none)."
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
