# Dagster on ECS Fargate: the cluster, logs, the image repository, security groups and service discovery.
# Task definitions: tasks.tf; services and the load balancer: services.tf; IAM: iam.tf; alarms: alarms.tf.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  region  = data.aws_region.current.region
  account = data.aws_caller_identity.current.account_id
  logs    = toset(["code", "webserver", "daemon", "run", "migrate", "bootstrap"])
}

resource "aws_kms_key" "logs" {
  description         = "${var.name} log groups"
  enable_key_rotation = true
  policy              = local.logs_key_policy
}

locals {
  logs_key_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${local.account}:root" }
        Action    = ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"]
        Resource  = "arn:aws:kms:${local.region}:${local.account}:key/*"
      },
      {
        Sid       = "CloudWatchLogsEncrypts"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "arn:aws:kms:${local.region}:${local.account}:key/*"
        Condition = { ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:aws:logs:${local.region}:${local.account}:log-group:/${var.name}/*" } }
      },
    ]
  })
}

resource "aws_cloudwatch_log_group" "this" {
  for_each          = local.logs
  name              = "/${var.name}/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}

resource "aws_ecs_cluster" "this" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecr_repository" "this" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.buckets.kms_key_arn
  }
}

resource "aws_secretsmanager_secret" "ads_api_key" {
  # checkov:skip=CKV2_AWS_57:the ADS API key is issued by the ADS account, not rotatable from AWS; put a new value and redeploy
  name        = "${var.name}/ads-api-key"
  description = "The ADS API key (put its value after the first apply: docs/deploy-aws.md)"
  kms_key_id  = var.database.secrets_kms_key_arn
}

# -- security groups: which tasks get egress -------------------------------------------------------------
# services (code server, webserver, daemon): only inside the VPC (endpoints, database, code server) and S3.
# runs (each Dagster run, the ingester inside it): also HTTPS to the internet, for the ADS.
resource "aws_security_group" "services" {
  name        = "${var.name}-services"
  description = "Dagster code server, webserver and daemon: no internet egress"
  vpc_id      = var.vpc_id
  ingress {
    description = "gRPC of the code server, from the webserver and the daemon"
    from_port   = 4000
    to_port     = 4000
    protocol    = "tcp"
    self        = true
  }
  ingress {
    description     = "The webserver from its load balancer"
    from_port       = 3000
    to_port         = 3000
    protocol        = "tcp"
    security_groups = [aws_security_group.alb.id]
  }
  egress {
    description = "Endpoints, database and code server inside the VPC"
    from_port   = 0
    to_port     = 65535
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
  egress {
    description     = "S3 through the gateway endpoint"
    from_port       = 443
    to_port         = 443
    protocol        = "tcp"
    prefix_list_ids = [var.s3_prefix_list_id]
  }
}

resource "aws_security_group" "runs" {
  # checkov:skip=CKV2_AWS_5:attached at run time: EcsRunLauncher gives it to each run's task (DAGSTER_RUN_SECURITY_GRP)
  name        = "${var.name}-runs"
  description = "Dagster run tasks: HTTPS egress to the ADS"
  vpc_id      = var.vpc_id
  egress {
    description = "Endpoints and database inside the VPC"
    from_port   = 0
    to_port     = 65535
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
  egress {
    description     = "S3 through the gateway endpoint"
    from_port       = 443
    to_port         = 443
    protocol        = "tcp"
    prefix_list_ids = [var.s3_prefix_list_id]
  }
  egress {
    description = "HTTPS to the ADS (through the NAT gateway or the proxy)"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_service_discovery_private_dns_namespace" "this" {
  name = "${var.name}.internal"
  vpc  = var.vpc_id
}

resource "aws_service_discovery_service" "code" {
  name = "code"
  dns_config {
    namespace_id = aws_service_discovery_private_dns_namespace.this.id
    dns_records {
      ttl  = 10
      type = "A"
    }
    routing_policy = "MULTIVALUE"
  }
}
