# Tier 1 (scripts/iac-check): the production defaults, asserted at plan time with a mocked provider (no
# cloud, no emulator). Each run plans the example root or one module on its own.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { region = "eu-central-1", name = "eu-central-1" }
  }
  # computed ARNs the provider validates where they are used (a random mock string is not an ARN)
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:eu-central-1:123456789012:mock" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_lb" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/app/mock/0123456789abcdef" }
  }
  mock_resource "aws_lb_target_group" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/mock/0123456789abcdef" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-central-1:123456789012:key/00000000-0000-0000-0000-000000000009" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-central-1:123456789012:log-group:mock" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:mock-AbCdEf" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = { arn = "arn:aws:ecr:eu-central-1:123456789012:repository/mock" }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:eu-central-1:123456789012:cluster/mock" }
  }
  mock_resource "aws_service_discovery_service" {
    defaults = { arn = "arn:aws:servicediscovery:eu-central-1:123456789012:service/srv-mock" }
  }
  mock_resource "aws_db_instance" {
    defaults = { master_user_secret = [{ secret_arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:rds!db-mock-AbCdEf", kms_key_id = "", secret_status = "active" }] }
  }
}

variables {
  bucket_prefix   = "acme-prod-"
  image           = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/jackfruit-prod:1"
  certificate_arn = "arn:aws:acm:eu-central-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
}

run "raw_bucket_policy_keeps_every_deny" {
  command = plan

  assert {
    condition     = length([for s in jsondecode(output.raw_bucket_policy).Statement : s if s.Sid == "DenyDeletingObjectsAndVersions" && s.Effect == "Deny" && toset(s.Action) == toset(["s3:DeleteObject", "s3:DeleteObjectVersion"])]) == 1
    error_message = "the raw bucket policy must deny DeleteObject and DeleteObjectVersion"
  }
  assert {
    condition = length([for s in jsondecode(output.raw_bucket_policy).Statement : s if s.Sid == "DenyUnconditionalObjectCreation" && s.Effect == "Deny"
    && s.Condition.Null["s3:if-none-match"] == "true" && s.Condition.Bool["s3:ObjectCreationOperation"] == "true"]) == 1
    error_message = "the raw bucket policy must deny an object-creating write without If-None-Match (and let multipart parts pass)"
  }
  assert {
    condition     = length([for s in jsondecode(output.raw_bucket_policy).Statement : s if s.Effect == "Deny" && try(s.Condition.Bool["aws:SecureTransport"], "") == "false"]) == 1
    error_message = "the raw bucket policy must deny plain HTTP"
  }
  assert {
    condition     = output.jackfruit_env.MINIO_BUCKET == "acme-prod-jackfruit-raw" && output.jackfruit_env.JACKFRUIT_CURATED_BUCKET == "acme-prod-jackfruit-curated"
    error_message = "bucket names are the prefix plus the local names"
  }
  assert {
    condition     = output.jackfruit_env.POSTGRES_SSLMODE == "verify-full"
    error_message = "jackfruit connects to RDS with sslmode verify-full"
  }
}

run "storage_object_lock_and_encryption" {
  command = plan
  module {
    source = "../../modules/storage"
  }
  variables {
    bucket_prefix = "acme-prod-"
  }

  assert {
    condition     = aws_s3_bucket.raw.object_lock_enabled == true
    error_message = "the raw bucket is created with Object Lock"
  }
  assert {
    condition     = aws_s3_bucket_object_lock_configuration.raw.rule[0].default_retention[0].mode == "COMPLIANCE" && aws_s3_bucket_object_lock_configuration.raw.rule[0].default_retention[0].years == 10
    error_message = "default retention: COMPLIANCE, 10 years"
  }
  assert {
    condition     = aws_s3_bucket_versioning.raw.versioning_configuration[0].status == "Enabled"
    error_message = "the raw bucket is versioned"
  }
  assert {
    condition     = aws_s3_bucket.raw.tags["jackfruit-write-once"] == "true"
    error_message = "the raw bucket carries jackfruit's write-once marker"
  }
  assert {
    condition     = alltrue([for b in [aws_s3_bucket_public_access_block.raw, aws_s3_bucket_public_access_block.curated, aws_s3_bucket_public_access_block.logs, aws_s3_bucket_public_access_block.compute_logs] : b.block_public_acls && b.block_public_policy && b.ignore_public_acls && b.restrict_public_buckets])
    error_message = "public access is blocked on every bucket"
  }
  assert {
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.raw.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms" && one(aws_s3_bucket_server_side_encryption_configuration.raw.rule).bucket_key_enabled
    error_message = "raw: SSE-KMS with a bucket key"
  }
  assert {
    condition     = length(aws_s3_bucket_lifecycle_configuration.raw.rule) == 1 && aws_s3_bucket_lifecycle_configuration.raw.rule[0].abort_incomplete_multipart_upload[0].days_after_initiation == 1 && length(aws_s3_bucket_lifecycle_configuration.raw.rule[0].expiration) == 0
    error_message = "raw: the only lifecycle rule aborts incomplete uploads after a day; nothing expires"
  }
  assert {
    condition     = length([for r in aws_s3_bucket_lifecycle_configuration.curated.rule : r if length(r.expiration) > 0]) == 0
    error_message = "curated: no pruning by default"
  }
  assert {
    condition     = length(aws_s3_bucket_policy.curated) == 1 && length(aws_s3_bucket_policy.compute_logs) == 1
    error_message = "every bucket denies plain HTTP"
  }
}

run "storage_governance_and_pruning_are_choices" {
  command = plan
  module {
    source = "../../modules/storage"
  }
  variables {
    bucket_prefix            = "acme-trial-"
    object_lock_mode         = "GOVERNANCE"
    object_lock_years        = 1
    curated_prune_after_days = 30
  }
  assert {
    condition     = aws_s3_bucket_object_lock_configuration.raw.rule[0].default_retention[0].mode == "GOVERNANCE"
    error_message = "GOVERNANCE is selectable"
  }
  assert {
    condition     = length([for r in aws_s3_bucket_lifecycle_configuration.curated.rule : r if length(r.expiration) > 0 && r.expiration[0].days == 30]) == 1
    error_message = "curated pruning follows its variable"
  }
}

run "storage_refuses_an_unknown_lock_mode" {
  command = plan
  module {
    source = "../../modules/storage"
  }
  variables {
    bucket_prefix    = "acme-prod-"
    object_lock_mode = "NONE"
  }
  expect_failures = [var.object_lock_mode]
}

run "catalog_backups_encryption_tls" {
  command = plan
  module {
    source = "../../modules/catalog"
  }
  variables {
    name                      = "jackfruit-prod"
    vpc_id                    = "vpc-0123456789abcdef0"
    subnet_ids                = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
    client_security_group_ids = ["sg-0123456789abcdef0"]
    kms_key_arn               = "arn:aws:kms:eu-central-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  }
  assert {
    condition     = aws_db_instance.this.storage_encrypted && aws_db_instance.this.deletion_protection && aws_db_instance.this.backup_retention_period >= 7
    error_message = "RDS: storage encrypted, deletion protection, automated backups (PITR) of 7 days or more"
  }
  assert {
    condition     = aws_db_instance.this.manage_master_user_password && !aws_db_instance.this.publicly_accessible
    error_message = "RDS: the master password managed in Secrets Manager; not public"
  }
  assert {
    condition     = length([for p in aws_db_parameter_group.this.parameter : p if p.name == "rds.force_ssl" && p.value == "1"]) == 1
    error_message = "RDS forces TLS"
  }
  assert {
    condition     = length([for p in aws_db_parameter_group.this.parameter : p if p.name == "shared_buffers" && p.value == "262144"]) == 1
    error_message = "shared_buffers 2 GiB (ADR 0008), in 8 KiB pages"
  }
}

run "catalog_refuses_short_backups" {
  command = plan
  module {
    source = "../../modules/catalog"
  }
  variables {
    name                      = "jackfruit-prod"
    vpc_id                    = "vpc-0123456789abcdef0"
    subnet_ids                = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
    client_security_group_ids = ["sg-0123456789abcdef0"]
    kms_key_arn               = "arn:aws:kms:eu-central-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    backup_retention_days     = 1
  }
  expect_failures = [var.backup_retention_days]
}
