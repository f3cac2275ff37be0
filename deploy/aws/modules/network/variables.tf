variable "name" {
  description = "Prefix of every resource's name."
  type        = string
}

variable "cidr_block" {
  description = "The VPC's address range."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "Two or more zones: one private and one public subnet in each."
  type        = list(string)
  validation {
    condition     = length(var.availability_zones) >= 2
    error_message = "RDS subnet groups and load balancers need at least two availability zones."
  }
}

variable "nat_gateway" {
  description = "A NAT gateway for the run tasks' egress to the ADS (the ingester downloads from the internet). False when egress goes through a proxy (ecs run tasks get HTTPS_PROXY instead)."
  type        = bool
  default     = true
}

variable "interface_endpoints" {
  description = "Interface VPC endpoints, so that tasks without internet egress still reach these AWS services."
  type        = list(string)
  default     = ["ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts"]
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow log group."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key of the flow log group."
  type        = string
}
