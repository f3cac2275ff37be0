# Least privilege: S3 actions only on the named buckets, no "*" action anywhere, iam:PassRole only for the
# run tasks' roles, secrets readable only by the execution role (which injects them into containers).
# Policies are written as JSON here (not data sources) so that the tier 1 tests can read them at plan time.

locals {
  log_group_arns = [for k in local.logs : "arn:aws:logs:${local.region}:${local.account}:log-group:/${var.name}/${k}:*"]

  ecs_tasks_assume = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
    }]
  })

  # the execution role: pull the image, write logs, read the secrets named in task definitions
  execution_policy = {
    Version = "2012-10-17"
    Statement = [
      # ecr:GetAuthorizationToken has no resource-level permission
      { Sid = "EcrToken", Effect = "Allow", Action = ["ecr:GetAuthorizationToken"], Resource = "*" },
      { Sid = "PullImage", Effect = "Allow", Action = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"], Resource = aws_ecr_repository.this.arn },
      { Sid = "WriteLogs", Effect = "Allow", Action = ["logs:CreateLogStream", "logs:PutLogEvents"], Resource = local.log_group_arns },
      {
        Sid      = "ReadInjectedSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = [var.database.catalog_secret_arn, var.database.dagster_secret_arn, var.database.master_secret_arn, aws_secretsmanager_secret.ads_api_key.arn]
      },
      { Sid = "DecryptSecretsAndImage", Effect = "Allow", Action = ["kms:Decrypt"], Resource = distinct([var.database.secrets_kms_key_arn, var.buckets.kms_key_arn]) },
    ]
  }

  # each Dagster run's task: the transformation, and the ingester as its child process
  runs_policy = {
    Version = "2012-10-17"
    Statement = [
      { Sid = "RawBucket", Effect = "Allow", Action = ["s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:GetBucketTagging"], Resource = var.buckets.raw_arn },
      # write-once: no DeleteObject; PutObject is conditional (the bucket policy denies an unconditional one)
      { Sid = "RawObjects", Effect = "Allow", Action = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:GetObjectRetention"], Resource = "${var.buckets.raw_arn}/*" },
      { Sid = "CuratedAndComputeLogBuckets", Effect = "Allow", Action = ["s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:GetBucketTagging"], Resource = [var.buckets.curated_arn, var.buckets.compute_logs_arn] },
      { Sid = "CuratedAndComputeLogObjects", Effect = "Allow", Action = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"], Resource = ["${var.buckets.curated_arn}/*", "${var.buckets.compute_logs_arn}/*"] },
      { Sid = "BucketKey", Effect = "Allow", Action = ["kms:Decrypt", "kms:GenerateDataKey"], Resource = var.buckets.kms_key_arn },
    ]
  }

  # code server, webserver, daemon (EcsRunLauncher) and the one-off tasks
  services_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "LaunchRuns"
        Effect    = "Allow"
        Action    = ["ecs:RunTask"]
        Resource  = "arn:aws:ecs:${local.region}:${local.account}:task-definition/${var.name}-run:*"
        Condition = { ArnEquals = { "ecs:cluster" = "arn:aws:ecs:${local.region}:${local.account}:cluster/${var.name}" } }
      },
      { Sid = "WatchAndStopRuns", Effect = "Allow", Action = ["ecs:DescribeTasks", "ecs:StopTask", "ecs:TagResource"], Resource = "arn:aws:ecs:${local.region}:${local.account}:task/${var.name}/*" },
      # these two actions have no resource-level permission
      { Sid = "ReadTaskDefinitionsAndNetwork", Effect = "Allow", Action = ["ecs:DescribeTaskDefinition", "ec2:DescribeNetworkInterfaces"], Resource = "*" },
      {
        Sid       = "PassOnlyRunRoles"
        Effect    = "Allow"
        Action    = ["iam:PassRole"]
        Resource  = [aws_iam_role.runs.arn, aws_iam_role.execution.arn]
        Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
      },
      { Sid = "ListBuckets", Effect = "Allow", Action = ["s3:ListBucket", "s3:GetBucketTagging"], Resource = [var.buckets.compute_logs_arn, var.buckets.raw_arn, var.buckets.curated_arn] },
      { Sid = "ReadObjects", Effect = "Allow", Action = ["s3:GetObject"], Resource = ["${var.buckets.compute_logs_arn}/*", "${var.buckets.raw_arn}/*", "${var.buckets.curated_arn}/*"] },
      { Sid = "BucketKey", Effect = "Allow", Action = ["kms:Decrypt"], Resource = var.buckets.kms_key_arn },
    ]
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = local.ecs_tasks_assume
}

resource "aws_iam_role_policy" "execution" {
  name   = "execution"
  role   = aws_iam_role.execution.id
  policy = jsonencode(local.execution_policy)
}

resource "aws_iam_role" "runs" {
  name               = "${var.name}-runs"
  assume_role_policy = local.ecs_tasks_assume
}

resource "aws_iam_role_policy" "runs" {
  name   = "runs"
  role   = aws_iam_role.runs.id
  policy = jsonencode(local.runs_policy)
}

resource "aws_iam_role" "services" {
  name               = "${var.name}-services"
  assume_role_policy = local.ecs_tasks_assume
}

resource "aws_iam_role_policy" "services" {
  name   = "services"
  role   = aws_iam_role.services.id
  policy = jsonencode(local.services_policy)
}
