variable "bucket_prefix" {
  description = "Prefix of every bucket name (S3 names are global: each deployment its own, e.g. \"acme-prod-\")."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{2,35}$", var.bucket_prefix))
    error_message = "bucket_prefix: 3 to 36 lowercase letters, digits, dots or hyphens, starting with a letter or digit."
  }
}

variable "raw_suffix" {
  description = "The raw bucket's name after the prefix (the local seed's name)."
  type        = string
  default     = "jackfruit-raw"
}

variable "curated_suffix" {
  description = "The curated bucket's name after the prefix (the local seed's name)."
  type        = string
  default     = "jackfruit-curated"
}

variable "object_lock_mode" {
  description = "Default retention mode of the raw bucket: COMPLIANCE (nobody, root included, can shorten it) or GOVERNANCE (for trials: a user with s3:BypassGovernanceRetention can)."
  type        = string
  default     = "COMPLIANCE"
  validation {
    condition     = contains(["COMPLIANCE", "GOVERNANCE"], var.object_lock_mode)
    error_message = "object_lock_mode must be COMPLIANCE or GOVERNANCE."
  }
}

variable "object_lock_years" {
  description = "Default retention of every raw object version, in years."
  type        = number
  default     = 10
  validation {
    condition     = var.object_lock_years >= 1 && floor(var.object_lock_years) == var.object_lock_years
    error_message = "object_lock_years must be a whole number of years, at least 1."
  }
}

variable "curated_prune_after_days" {
  description = "Expire curated objects this many days after creation (the design's \"curated may be pruned\"); null keeps them (the default): pruning is normally the catalog's gc."
  type        = number
  default     = null
}

variable "compute_log_retention_days" {
  description = "How long Dagster's compute logs are kept in their bucket."
  type        = number
  default     = 90
}

variable "deny_insecure_transport" {
  description = "Bucket policies deny plain-HTTP requests. Production: true. Only an emulator served over plain HTTP needs false."
  type        = bool
  default     = true
}

variable "enforce_conditional_writes" {
  description = "The raw bucket's policy denies an object-creating write without If-None-Match (write-once for every client, not only jackfruit's). Production: true. Only an emulator that mis-evaluates s3:if-none-match needs false."
  type        = bool
  default     = true
}

variable "force_destroy_unlocked" {
  description = "Let `tofu destroy` empty the curated, log and compute-log buckets (never the raw bucket). For test stacks."
  type        = bool
  default     = false
}
