variable "runbook_name" {
  description = "Name of the dr-orchestrator runbook these buckets serve (used in tags and the IAM role name)."
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

variable "primary_region" {
  description = "AWS region of the primary bucket, e.g. us-east-1. Must match the provider aliased aws.primary."
  type        = string
}

variable "recovery_region" {
  description = "AWS region of the recovery bucket, e.g. eu-west-1. Must match the provider aliased aws.recovery."
  type        = string
}

variable "primary_bucket" {
  description = "Name of the primary bucket (the runbook site's s3:// storage URL names it)."
  type        = string
}

variable "recovery_bucket" {
  description = "Name of the recovery bucket."
  type        = string
}

variable "primary_prefix" {
  description = "Key prefix inside the primary bucket under which dro keeps its repositories (may be empty)."
  type        = string
  default     = ""
}

variable "recovery_prefix" {
  description = "Key prefix inside the recovery bucket (may be empty)."
  type        = string
  default     = ""
}

variable "object_lock_mode" {
  description = "S3 Object Lock mode for the default retention: COMPLIANCE (nobody can shorten it) or GOVERNANCE (callers with s3:BypassGovernanceRetention can)."
  type        = string
  default     = "COMPLIANCE"
  validation {
    condition     = contains(["COMPLIANCE", "GOVERNANCE"], var.object_lock_mode)
    error_message = "object_lock_mode must be COMPLIANCE or GOVERNANCE."
  }
}

variable "default_retention_days" {
  description = "Bucket default Object Lock retention in days (0 = no default; dro still sets per-object retention from each data class's immutable_for)."
  type        = number
  default     = 0
}

variable "data_classes" {
  description = "Per data class: key prefix of its repository, object-lock days (0 = not immutable), whether it replicates primary -> recovery, and how many days non-current versions are kept after the lock expires."
  type = map(object({
    prefix          = string
    lock_days       = number
    replicate       = bool
    noncurrent_days = number
  }))
  default = {}
}

variable "kms_key_arns" {
  description = "Optional SSE-KMS key ARNs by side ({primary = ..., recovery = ...}); empty means SSE-S3 (AES256)."
  type        = map(string)
  default     = {}
}

variable "replica_modification_sync" {
  description = "Replicate metadata changes made on replicas back (needed for two-way replication after failback)."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete non-empty buckets. Never true in production."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
