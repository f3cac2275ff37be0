variable "name" {
  description = "Prefix of every resource's name."
  type        = string
}

variable "vpc_id" {
  type = string
}

variable "subnet_ids" {
  description = "Private subnets of the DB subnet group (two zones or more)."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect on 5432 (the ECS tasks)."
  type        = list(string)
}

variable "engine_version" {
  description = "PostgreSQL major version (RDS offers PostGIS 3 with it)."
  type        = string
  default     = "17"
}

variable "instance_class" {
  description = "RDS instance class. The default has 8 GiB of memory for shared_buffers_mb = 2048 (ADR 0008: the working set of find_tiles at a million tiles is ~1.2 GB)."
  type        = string
  default     = "db.m7g.large"
}

variable "shared_buffers_mb" {
  description = "PostgreSQL shared_buffers, in MiB (ADR 0008: size it to the catalog's working set; about a quarter of the instance's memory)."
  type        = number
  default     = 2048
}

variable "max_connections" {
  description = "PostgreSQL max_connections: each Dagster run worker opens its own connections (docs/deploy-aws.md, scaling)."
  type        = number
  default     = 200
}

variable "allocated_storage_gb" {
  type    = number
  default = 50
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling."
  type        = number
  default     = 200
}

variable "multi_az" {
  description = "A standby in a second zone (about twice the instance's price)."
  type        = bool
  default     = false
}

variable "backup_retention_days" {
  description = "Automated backups and point-in-time recovery window, in days."
  type        = number
  default     = 14
  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be 7 to 35 (point-in-time recovery needs automated backups)."
  }
}

variable "deletion_protection" {
  description = "Refuse deleting the instance. Production: true."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "KMS key of the instance's storage, Performance Insights and the master secret."
  type        = string
}

variable "log_retention_days" {
  type    = number
  default = 365
}
