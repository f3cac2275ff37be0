variable "region" {
  description = "AWS region of the whole stack (jackfruit's JACKFRUIT_S3_REGION)."
  type        = string
  default     = "eu-central-1"
}

variable "environment" {
  description = "Name of this deployment (prod, staging...): part of every resource's name."
  type        = string
  default     = "prod"
}

variable "bucket_prefix" {
  description = "Prefix of the bucket names, unique to your organisation and deployment (S3 names are global), e.g. \"acme-prod-\". The suffixes are the local names (jackfruit-raw, jackfruit-curated)."
  type        = string
}

variable "availability_zones" {
  description = "At least two zones of the region."
  type        = list(string)
  default     = ["eu-central-1a", "eu-central-1b"]
}

variable "image" {
  description = "The jackfruit Dagster image with the Go ingester (deploy/docker/Dockerfile.dagster-aws), pushed to the stack's ECR repository with an immutable tag."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for the webserver's internal HTTPS listener."
  type        = string
}

variable "object_lock_mode" {
  description = "COMPLIANCE (production) or GOVERNANCE (trials)."
  type        = string
  default     = "COMPLIANCE"
}

variable "object_lock_years" {
  description = "Default retention of raw objects, in years."
  type        = number
  default     = 10
}

variable "curated_prune_after_days" {
  description = "Expire curated objects after this many days (null: never)."
  type        = number
  default     = null
}

variable "db_instance_class" {
  type    = string
  default = "db.m7g.large"
}

variable "db_multi_az" {
  type    = bool
  default = false
}

variable "db_backup_retention_days" {
  description = "Point-in-time recovery window (7 to 35 days)."
  type        = number
  default     = 14
}

variable "db_deletion_protection" {
  type    = bool
  default = true
}

variable "nat_gateway" {
  description = "Egress for the run tasks through a NAT gateway (false: give egress_proxy)."
  type        = bool
  default     = true
}

variable "egress_proxy" {
  description = "HTTPS proxy for the run tasks' egress to the ADS, when there is no NAT gateway."
  type        = string
  default     = null
}

variable "alarm_topic_arn" {
  description = "SNS topic for the alarms (null: the stack makes one)."
  type        = string
  default     = null
}

variable "start_services" {
  description = "false on the first apply (bootstrap and migrate first: docs/deploy-aws.md), then true."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  type    = number
  default = 365
}

# -- switches for an emulator (tier 2 of scripts/iac-check). Production keeps the defaults, which the tier 1
# tests assert. Each turns off only what the emulator cannot evaluate.
variable "deny_insecure_transport" {
  description = "Bucket policies deny plain HTTP. Off only against an emulator served over plain HTTP."
  type        = bool
  default     = true
}

variable "enforce_conditional_writes" {
  description = "The raw bucket denies writes without If-None-Match. Off only against an emulator that refuses every PUT under the s3:if-none-match condition key."
  type        = bool
  default     = true
}

variable "test_stack" {
  description = "A throwaway stack (emulator): buckets other than raw can be emptied by destroy. Never in production."
  type        = bool
  default     = false
}

variable "alarms" {
  description = "CloudWatch alarms. Off only against an emulator that does not speak CloudWatch's current wire protocol."
  type        = bool
  default     = true
}
