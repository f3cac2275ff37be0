# Task definitions. Every container gets jackfruit's own environment interface (the names used locally)
# and its secrets only through ECS `secrets` (ARNs, never values). One image for all: Dagster, jackfruit
# and the Go ingester, which each run's task starts as a child process (JACKFRUIT_RUNNER=subprocess, ADR 0012).

locals {
  # the root filesystem is read-only; /tmp (the transformation's JACKFRUIT_WORK_DIR among it) is a volume on the
  # task's ephemeral storage
  scratch_mount = [{ sourceVolume = "scratch", containerPath = "/tmp", readOnly = false }]
  dagster_home  = "/opt/dagster/ecs"
  grpc_args     = ["--grpc-host", "code.${aws_service_discovery_private_dns_namespace.this.name}", "--grpc-port", "4000"]

  environment = [for k, v in {
    JACKFRUIT_OBJECT_STORE    = "s3"
    MINIO_BUCKET              = var.buckets.raw
    JACKFRUIT_CURATED_BUCKET  = var.buckets.curated
    JACKFRUIT_S3_REGION       = local.region
    JACKFRUIT_CATALOG         = "postgres"
    JACKFRUIT_RUNNER          = "subprocess"
    JACKFRUIT_INGEST_BINARY   = "/opt/jackfruit/bin/jackfruit-ingest"
    JACKFRUIT_WORK_DIR        = "/tmp/jackfruit-work"
    POSTGRES_HOST             = var.database.host
    POSTGRES_PORT             = tostring(var.database.port)
    POSTGRES_DB               = var.database.catalog_db
    POSTGRES_USER             = var.database.catalog_user
    POSTGRES_SSLMODE          = "verify-full"
    POSTGRES_SSLROOTCERT      = "/opt/jackfruit/rds-ca-bundle.pem"
    PGSSLMODE                 = "verify-full" # Dagster's own connections (libpq)
    PGSSLROOTCERT             = "/opt/jackfruit/rds-ca-bundle.pem"
    DAGSTER_HOME              = local.dagster_home
    DAGSTER_POSTGRES_DB       = var.database.dagster_db
    DAGSTER_POSTGRES_USER     = var.database.dagster_user
    DAGSTER_CURRENT_IMAGE     = var.image
    DAGSTER_ECS_CLUSTER       = aws_ecs_cluster.this.name
    DAGSTER_RUN_TASK_FAMILY   = "${var.name}-run"
    DAGSTER_RUN_SUBNETS       = join(",", var.subnet_ids)
    DAGSTER_RUN_SECURITY_GRP  = aws_security_group.runs.id
    DAGSTER_COMPUTE_LOGS      = var.buckets.compute_logs
    DAGSTER_RUN_MAX_RUNTIME_S = tostring(var.run_max_runtime_s)
    } : { name = k, value = v }
  ]

  proxy_environment = var.egress_proxy == null ? [] : [
    { name = "HTTPS_PROXY", value = var.egress_proxy },
    { name = "NO_PROXY", value = "169.254.169.254,169.254.170.2,.amazonaws.com,${var.database.host}" },
  ]

  secrets = [
    { name = "POSTGRES_PASSWORD", valueFrom = var.database.catalog_secret_arn },
    { name = "DAGSTER_POSTGRES_PASSWORD", valueFrom = var.database.dagster_secret_arn },
    { name = "ADS_API_KEY", valueFrom = aws_secretsmanager_secret.ads_api_key.arn },
  ]

  containers = {
    code      = { command = ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "jackfruit.orchestration.definitions"], port = 4000 }
    webserver = { command = concat(["dagster-webserver", "-h", "0.0.0.0", "-p", "3000"], local.grpc_args), port = 3000 }
    daemon    = { command = concat(["dagster-daemon", "run"], local.grpc_args), port = null }
  }
}

resource "aws_ecs_task_definition" "service" {
  for_each                 = local.containers
  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 1024
  memory                   = 2048
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.services.arn
  volume {
    name = "scratch" # on the task's ephemeral storage
  }
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  container_definitions = jsonencode([{
    name                   = each.key
    image                  = var.image
    essential              = true
    cpu                    = 1024
    memory                 = 2048
    command                = each.value.command
    readonlyRootFilesystem = true
    mountPoints            = local.scratch_mount
    environment            = local.environment
    secrets                = local.secrets
    portMappings           = each.value.port == null ? [] : [{ containerPort = each.value.port, protocol = "tcp" }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this[each.key].name
        awslogs-region        = local.region
        awslogs-stream-prefix = each.key
      }
    }
  }])
}

# The task definition EcsRunLauncher starts for every run (deploy/dagster/dagster-ecs.yaml names its family).
resource "aws_ecs_task_definition" "run" {
  family                   = "${var.name}-run"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.run_task.cpu
  memory                   = var.run_task.memory_mib
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.runs.arn
  ephemeral_storage {
    size_in_gib = var.run_task.ephemeral_storage_gb
  }
  volume {
    name = "scratch" # on the task's ephemeral storage
  }
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  container_definitions = jsonencode([{
    name                   = "run"
    image                  = var.image
    essential              = true
    cpu                    = var.run_task.cpu # the whole task: one container
    memory                 = var.run_task.memory_mib
    readonlyRootFilesystem = true
    mountPoints            = local.scratch_mount
    environment            = concat(local.environment, local.proxy_environment)
    secrets                = local.secrets
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this["run"].name
        awslogs-region        = local.region
        awslogs-stream-prefix = "run"
      }
    }
  }])
}

# One-off tasks, run by the operator (docs/deploy-aws.md): `bootstrap` (roles, databases, extensions, with the
# master secret; idempotent) before `migrate` (`jackfruit db upgrade`), both before the services start.
resource "aws_ecs_task_definition" "oneoff" {
  for_each = {
    bootstrap = {
      command = ["python", "/opt/jackfruit/bootstrap_db.py"]
      secrets = [
        { name = "PGADMIN_USER", valueFrom = "${var.database.master_secret_arn}:username::" },
        { name = "PGADMIN_PASSWORD", valueFrom = "${var.database.master_secret_arn}:password::" },
        { name = "POSTGRES_PASSWORD", valueFrom = var.database.catalog_secret_arn },
        { name = "DAGSTER_POSTGRES_PASSWORD", valueFrom = var.database.dagster_secret_arn },
      ]
    }
    migrate = { command = ["jackfruit", "db", "upgrade"], secrets = local.secrets }
  }
  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 512
  memory                   = 1024
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.services.arn
  volume {
    name = "scratch" # on the task's ephemeral storage
  }
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  container_definitions = jsonencode([{
    name                   = each.key
    image                  = var.image
    essential              = true
    cpu                    = 512
    memory                 = 1024
    command                = each.value.command
    readonlyRootFilesystem = true
    mountPoints            = local.scratch_mount
    environment            = local.environment
    secrets                = each.value.secrets
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this[each.key].name
        awslogs-region        = local.region
        awslogs-stream-prefix = each.key
      }
    }
  }])
}
