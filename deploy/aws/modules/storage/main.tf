# The buckets: raw (write-once evidence: versioning, Object Lock, a policy that denies deletes and
# unconditional writes, SSE-KMS), curated (prunable), access logs, and Dagster's compute logs.
# The raw bucket carries jackfruit's write-once marker (tag jackfruit-write-once=true), so jackfruit opens it
# write-once without PutBucketTagging rights.

data "aws_caller_identity" "current" {}

locals {
  raw_name     = "${var.bucket_prefix}${var.raw_suffix}"
  curated_name = "${var.bucket_prefix}${var.curated_suffix}"
  logs_name    = "${var.bucket_prefix}jackfruit-access-logs"
  compute_name = "${var.bucket_prefix}jackfruit-compute-logs"
  write_once   = { "jackfruit-write-once" = "true" }
}

locals {
  account = data.aws_caller_identity.current.account_id
  # ARNs built from the names (known at plan time: the tier 1 tests read the policies)
  raw_arn          = "arn:aws:s3:::${local.raw_name}"
  curated_arn      = "arn:aws:s3:::${local.curated_name}"
  logs_arn         = "arn:aws:s3:::${local.logs_name}"
  compute_logs_arn = "arn:aws:s3:::${local.compute_name}"
  everyone         = { AWS = "*" }

  kms_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${local.account}:root" }
      Action    = ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"]
      Resource  = "arn:aws:kms:*:${local.account}:key/*"
    }]
  })

  tls_only = { for name, arn in { raw = local.raw_arn, curated = local.curated_arn, logs = local.logs_arn, compute_logs = local.compute_logs_arn } : name => {
    Sid       = "DenyInsecureTransport"
    Effect    = "Deny"
    Principal = local.everyone
    Action    = ["s3:*"]
    Resource  = [arn, "${arn}/*"]
    Condition = { Bool = { "aws:SecureTransport" = "false" } }
  } }

  raw_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid       = "DenyDeletingObjectsAndVersions"
        Effect    = "Deny"
        Principal = local.everyone
        Action    = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
        Resource  = "${local.raw_arn}/*"
      }],
      # An object-creating write (PutObject, CopyObject, CompleteMultipartUpload) must carry If-None-Match;
      # the parts of a multipart upload (s3:ObjectCreationOperation false) pass.
      var.enforce_conditional_writes ? [{
        Sid       = "DenyUnconditionalObjectCreation"
        Effect    = "Deny"
        Principal = local.everyone
        Action    = ["s3:PutObject"]
        Resource  = "${local.raw_arn}/*"
        Condition = { Bool = { "s3:ObjectCreationOperation" = "true" }, Null = { "s3:if-none-match" = "true" } }
      }] : [],
      var.deny_insecure_transport ? [local.tls_only["raw"]] : [],
    )
  })

  logs_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid       = "S3ServerAccessLogs"
        Effect    = "Allow"
        Principal = { Service = "logging.s3.amazonaws.com" }
        Action    = ["s3:PutObject"]
        Resource  = "${local.logs_arn}/*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
      }],
      var.deny_insecure_transport ? [local.tls_only["logs"]] : [],
    )
  })
}

resource "aws_kms_key" "s3" {
  description         = "${var.bucket_prefix}jackfruit buckets"
  enable_key_rotation = true
  policy              = local.kms_policy
}

# -- raw ------------------------------------------------------------------------------------------------
resource "aws_s3_bucket" "raw" {
  # checkov:skip=CKV2_AWS_62:no consumer of bucket events: the catalog records every landed object
  # checkov:skip=CKV_AWS_144:a second-region copy doubles the evidence's cost and needs a locked bucket there too; a deployment's choice (docs/deploy-aws.md)
  bucket              = local.raw_name
  object_lock_enabled = true
  tags                = local.write_once
}

resource "aws_s3_bucket_versioning" "raw" {
  bucket = aws_s3_bucket.raw.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "raw" {
  bucket = aws_s3_bucket.raw.id
  rule {
    default_retention {
      mode  = var.object_lock_mode
      years = var.object_lock_years
    }
  }
  depends_on = [aws_s3_bucket_versioning.raw]
}

resource "aws_s3_bucket_policy" "raw" {
  bucket     = aws_s3_bucket.raw.id
  policy     = local.raw_policy
  depends_on = [aws_s3_bucket_public_access_block.raw]
}

resource "aws_s3_bucket_public_access_block" "raw" {
  bucket                  = aws_s3_bucket.raw.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "raw" {
  bucket = aws_s3_bucket.raw.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.s3.arn
    }
    bucket_key_enabled = true
  }
}

# Raw is kept: the only rule aborts incomplete multipart uploads; nothing expires.
resource "aws_s3_bucket_lifecycle_configuration" "raw" {
  bucket = aws_s3_bucket.raw.id
  rule {
    id     = "jackfruit-abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.raw]
}

resource "aws_s3_bucket_logging" "raw" {
  bucket        = aws_s3_bucket.raw.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "raw/"
  depends_on    = [aws_s3_bucket_policy.logs] # the policy lets the logging service write there
}

# -- curated --------------------------------------------------------------------------------------------
resource "aws_s3_bucket" "curated" {
  # checkov:skip=CKV2_AWS_62:no consumer of bucket events: the catalog, not S3 notifications, says what is published
  # checkov:skip=CKV_AWS_144:curated tiles are derived data, rebuilt from raw; raw's durability is S3's and Object Lock's
  bucket        = local.curated_name
  force_destroy = var.force_destroy_unlocked
}

resource "aws_s3_bucket_versioning" "curated" {
  # Versioning keeps a deleted or replaced tile recoverable until the noncurrent rule below removes it.
  bucket = aws_s3_bucket.curated.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_public_access_block" "curated" {
  bucket                  = aws_s3_bucket.curated.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "curated" {
  bucket = aws_s3_bucket.curated.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.s3.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "curated" {
  bucket = aws_s3_bucket.curated.id
  rule {
    id     = "jackfruit-abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
  }
  dynamic "rule" {
    for_each = var.curated_prune_after_days == null ? [] : [var.curated_prune_after_days]
    content {
      id     = "jackfruit-prune-curated"
      status = "Enabled"
      filter {}
      expiration {
        days = rule.value
      }
    }
  }
  depends_on = [aws_s3_bucket_versioning.curated]
}

resource "aws_s3_bucket_policy" "curated" {
  count      = var.deny_insecure_transport ? 1 : 0
  bucket     = aws_s3_bucket.curated.id
  policy     = jsonencode({ Version = "2012-10-17", Statement = [local.tls_only["curated"]] })
  depends_on = [aws_s3_bucket_public_access_block.curated]
}

resource "aws_s3_bucket_logging" "curated" {
  bucket        = aws_s3_bucket.curated.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "curated/"
  depends_on    = [aws_s3_bucket_policy.logs]
}
