variable "name" {
  description = "Prefix of every resource's name."
  type        = string
}

variable "vpc_id" {
  type = string
}

variable "vpc_cidr" {
  type = string
}

variable "subnet_ids" {
  description = "Private subnets of every task and of the internal load balancer."
  type        = list(string)
}

variable "s3_prefix_list_id" {
  description = "The S3 gateway endpoint's prefix list."
  type        = string
}

variable "image" {
  description = "The jackfruit Dagster image (ECR URI with an immutable tag): Dagster, jackfruit and the Go ingester binary (ADR 0012)."
  type        = string
}

variable "buckets" {
  description = "Names and ARNs of the buckets, and the buckets' KMS key."
  type = object({
    raw              = string
    raw_arn          = string
    curated          = string
    curated_arn      = string
    compute_logs     = string
    compute_logs_arn = string
    kms_key_arn      = string
  })
}

variable "database" {
  description = "The catalog's RDS instance and the secrets of its roles."
  type = object({
    host                = string
    port                = number
    instance_id         = string
    catalog_db          = string
    catalog_user        = string
    catalog_secret_arn  = string
    dagster_db          = string
    dagster_user        = string
    dagster_secret_arn  = string
    master_secret_arn   = string
    secrets_kms_key_arn = string
    max_connections     = number
  })
}

variable "log_retention_days" {
  type    = number
  default = 365
}

variable "run_task" {
  description = "Size of each Dagster run's Fargate task. The default fits a CAMS day: the transformation's scratch (JACKFRUIT_WORK_DIR) lives on the task's ephemeral storage."
  type = object({
    cpu                  = number
    memory_mib           = number
    ephemeral_storage_gb = number
  })
  default = {
    cpu                  = 2048
    memory_mib           = 8192
    ephemeral_storage_gb = 100
  }
  validation {
    condition     = var.run_task.ephemeral_storage_gb >= 21 && var.run_task.ephemeral_storage_gb <= 200
    error_message = "Fargate ephemeral storage is 21 to 200 GiB."
  }
}

variable "run_max_runtime_s" {
  description = "The dagster/max_runtime tag of every run: the daemon cancels a run past it."
  type        = number
  default     = 7200
}

variable "egress_proxy" {
  description = "An HTTPS proxy for the run tasks' egress to the ADS, instead of the NAT gateway (null: NAT)."
  type        = string
  default     = null
}

variable "webserver_internal" {
  description = "The webserver's load balancer is internal (OSS Dagster has no authentication). Set false only with oidc."
  type        = bool
  default     = true
}

variable "certificate_arn" {
  description = "ACM certificate of the webserver's HTTPS listener."
  type        = string
}

variable "oidc" {
  description = "Optional OIDC (e.g. Cognito) authentication in front of the webserver."
  type = object({
    issuer                 = string
    authorization_endpoint = string
    token_endpoint         = string
    user_info_endpoint     = string
    client_id              = string
    client_secret_arn      = string
  })
  default = null
}

variable "alarm_topic_arn" {
  description = "SNS topic of the alarms (null: the stack makes one)."
  type        = string
  default     = null
}

variable "start_services" {
  description = "Run the Dagster services. The first apply sets false; the bootstrap and migration tasks run; then true (docs/deploy-aws.md)."
  type        = bool
  default     = true
}

variable "alarms" {
  description = "Create the CloudWatch metric alarms. Production: true. Off only against an emulator that does not speak CloudWatch's current protocol."
  type        = bool
  default     = true
}
