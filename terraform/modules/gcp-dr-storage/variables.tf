variable "runbook_name" {
  description = "Name of the dr-orchestrator runbook these buckets serve (used in labels)."
  type        = string
}

variable "project" {
  description = "GCP project that owns the buckets."
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

variable "primary_bucket" {
  description = "Name of the primary bucket (the runbook site's gs:// storage URL names it)."
  type        = string
}

variable "recovery_bucket" {
  description = "Name of the recovery bucket. Ignored when dual_region_location is set (one dual-region bucket serves both sites)."
  type        = string
}

variable "primary_location" {
  description = "Location of the primary bucket, e.g. us-east1."
  type        = string
}

variable "recovery_location" {
  description = "Location of the recovery bucket, e.g. europe-west1."
  type        = string
}

variable "dual_region_location" {
  description = "Set to a dual-region (e.g. NAM4, EUR4) to use ONE dual-region bucket with turbo replication instead of two buckets; empty for two buckets."
  type        = string
  default     = ""
}

variable "retention_days" {
  description = "Bucket retention policy in days (0 = none). Objects cannot be deleted or overwritten before they are this old: use the longest immutable_for of the data classes stored here."
  type        = number
  default     = 0
}

variable "lock_retention_policy" {
  description = "Lock the retention policy (irreversible: it can then never be shortened or removed)."
  type        = bool
  default     = false
}

variable "data_classes" {
  description = "Per data class: object prefix of its repository, retention days, whether dro replicates it to the recovery bucket, and how many days non-current versions are kept."
  type = map(object({
    prefix          = string
    lock_days       = number
    replicate       = bool
    noncurrent_days = number
  }))
  default = {}
}

variable "kms_key_name" {
  description = "Optional Cloud KMS key for default encryption (CMEK); empty for Google-managed keys."
  type        = string
  default     = ""
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete non-empty buckets. Never true in production."
  type        = bool
  default     = false
}

variable "labels" {
  description = "Labels added to every bucket."
  type        = map(string)
  default     = {}
}
