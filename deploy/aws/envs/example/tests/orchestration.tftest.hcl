# Tier 1: the ECS side's guarantees, planned with a mocked provider.

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
  name              = "jackfruit-prod"
  vpc_id            = "vpc-0123456789abcdef0"
  vpc_cidr          = "10.40.0.0/16"
  subnet_ids        = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  s3_prefix_list_id = "pl-0123456789abcdef0"
  image             = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/jackfruit-prod:1"
  certificate_arn   = "arn:aws:acm:eu-central-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  buckets = {
    raw              = "acme-prod-jackfruit-raw"
    raw_arn          = "arn:aws:s3:::acme-prod-jackfruit-raw"
    curated          = "acme-prod-jackfruit-curated"
    curated_arn      = "arn:aws:s3:::acme-prod-jackfruit-curated"
    compute_logs     = "acme-prod-jackfruit-compute-logs"
    compute_logs_arn = "arn:aws:s3:::acme-prod-jackfruit-compute-logs"
    kms_key_arn      = "arn:aws:kms:eu-central-1:123456789012:key/00000000-0000-0000-0000-000000000001"
  }
  database = {
    host                = "jackfruit-prod.abc.eu-central-1.rds.amazonaws.com"
    port                = 5432
    instance_id         = "jackfruit-prod"
    catalog_db          = "jackfruit"
    catalog_user        = "jackfruit"
    catalog_secret_arn  = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:jackfruit-prod/postgres/jackfruit-AbCdEf"
    dagster_db          = "dagster"
    dagster_user        = "dagster"
    dagster_secret_arn  = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:jackfruit-prod/postgres/dagster-AbCdEf"
    master_secret_arn   = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:rds!db-0000-AbCdEf"
    secrets_kms_key_arn = "arn:aws:kms:eu-central-1:123456789012:key/00000000-0000-0000-0000-000000000001"
    max_connections     = 200
  }
}

run "exactly_one_daemon" {
  command = plan
  module {
    source = "../../modules/orchestration"
  }
  assert {
    condition     = aws_ecs_service.this["daemon"].desired_count == 1 && aws_ecs_service.this["daemon"].deployment_maximum_percent == 100 && aws_ecs_service.this["daemon"].deployment_minimum_healthy_percent == 0
    error_message = "the daemon: one task, deployment maximum 100 %, minimum healthy 0 %"
  }
  assert {
    condition     = aws_lb.webserver.internal
    error_message = "the webserver's load balancer is internal by default (OSS Dagster has no authentication)"
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.daemon) == 1 && length(aws_cloudwatch_metric_alarm.database) == 3 && length(aws_cloudwatch_metric_alarm.runs) == 2
    error_message = "alarms are on by default (daemon, database connections/CPU/storage, failed and quarantined runs)"
  }
}

run "no_wildcard_action_and_scoped_s3" {
  command = plan
  module {
    source = "../../modules/orchestration"
  }
  assert {
    condition = alltrue(flatten([for role, p in output.iam_policies : [for s in p.Statement :
    [for a in flatten([s.Action]) : a != "*" && !endswith(a, ":*")]]]))
    error_message = "no \"*\" action (nor service:*) in any task role's policy"
  }
  assert {
    condition = alltrue(flatten([for role, p in output.iam_policies : [for s in p.Statement :
      [for r in flatten([s.Resource]) : startswith(r, "arn:aws:s3:::acme-prod-jackfruit-")]
    if anytrue([for a in flatten([s.Action]) : startswith(a, "s3:")])]]))
    error_message = "S3 actions only on the named buckets"
  }
  assert {
    condition = alltrue(flatten([for role, p in output.iam_policies : [for s in p.Statement :
    [for r in flatten([s.Resource]) : r != "*"] if contains(flatten([s.Action]), "iam:PassRole")]]))
    error_message = "iam:PassRole only on named roles"
  }
}

run "secrets_only_as_arns" {
  command = plan
  module {
    source = "../../modules/orchestration"
  }
  assert {
    condition = alltrue(flatten([for td in concat(values(aws_ecs_task_definition.service), values(aws_ecs_task_definition.oneoff), [aws_ecs_task_definition.run]) : [
    for c in jsondecode(td.container_definitions) : [for s in c.secrets : startswith(s.valueFrom, "arn:aws:secretsmanager:")]]]))
    error_message = "every secret reaches a container as a Secrets Manager ARN"
  }
  assert {
    condition = alltrue(flatten([for td in concat(values(aws_ecs_task_definition.service), values(aws_ecs_task_definition.oneoff), [aws_ecs_task_definition.run]) : [
    for c in jsondecode(td.container_definitions) : [for e in c.environment : !can(regex("PASSWORD|API_KEY|SECRET_KEY|ACCESS_KEY", e.name))]]]))
    error_message = "no password or key in a plain environment variable"
  }
  assert {
    condition     = aws_ecs_task_definition.run.ephemeral_storage[0].size_in_gib >= 21
    error_message = "the run task's scratch lives on its ephemeral storage"
  }
}
