# Values come from `dro terraform export --provider gcp` (dro.auto.tfvars.json), except `project`.

variable "project" {
  description = "GCP project (set it yourself, e.g. in terraform.tfvars)."
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

variable "primary_bucket" {
  description = "Primary bucket name."
  type        = string
}

variable "recovery_bucket" {
  description = "Recovery bucket name."
  type        = string
}

variable "primary_location" {
  description = "Primary bucket location."
  type        = string
}

variable "recovery_location" {
  description = "Recovery bucket location."
  type        = string
}

variable "retention_days" {
  description = "Bucket retention policy days (0 = none)."
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
