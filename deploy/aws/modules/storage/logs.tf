# The access-log bucket (server access logs of the other buckets) and Dagster's compute-log bucket.

resource "aws_s3_bucket" "logs" {
  # checkov:skip=CKV_AWS_18:this is the access-log target; logging it into itself would loop
  # checkov:skip=CKV_AWS_145:S3 server access logging delivers only to SSE-S3 buckets, not SSE-KMS
  # checkov:skip=CKV2_AWS_62:no consumer of events on access logs
  # checkov:skip=CKV_AWS_144:access logs are operational, not evidence; no second region
  bucket        = local.logs_name
  force_destroy = var.force_destroy_unlocked
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = 365
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.logs]
}

resource "aws_s3_bucket_policy" "logs" {
  bucket     = aws_s3_bucket.logs.id
  policy     = local.logs_policy
  depends_on = [aws_s3_bucket_public_access_block.logs]
}

resource "aws_s3_bucket" "compute_logs" {
  # checkov:skip=CKV2_AWS_62:no consumer of events on compute logs
  # checkov:skip=CKV_AWS_144:compute logs are operational, not evidence; no second region
  bucket        = local.compute_name
  force_destroy = var.force_destroy_unlocked
}

resource "aws_s3_bucket_public_access_block" "compute_logs" {
  bucket                  = aws_s3_bucket.compute_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "compute_logs" {
  bucket = aws_s3_bucket.compute_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.s3.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "compute_logs" {
  bucket = aws_s3_bucket.compute_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "compute_logs" {
  bucket = aws_s3_bucket.compute_logs.id
  rule {
    id     = "expire-compute-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.compute_log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.compute_logs]
}

resource "aws_s3_bucket_policy" "compute_logs" {
  count      = var.deny_insecure_transport ? 1 : 0
  bucket     = aws_s3_bucket.compute_logs.id
  policy     = jsonencode({ Version = "2012-10-17", Statement = [local.tls_only["compute_logs"]] })
  depends_on = [aws_s3_bucket_public_access_block.compute_logs]
}

resource "aws_s3_bucket_logging" "compute_logs" {
  bucket        = aws_s3_bucket.compute_logs.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "compute-logs/"
  depends_on    = [aws_s3_bucket_policy.logs]
}
