output "raw_bucket" {
  value = aws_s3_bucket.raw.bucket
}

output "raw_bucket_arn" {
  value = local.raw_arn
}

output "curated_bucket" {
  value = aws_s3_bucket.curated.bucket
}

output "curated_bucket_arn" {
  value = local.curated_arn
}

output "compute_logs_bucket" {
  value = aws_s3_bucket.compute_logs.bucket
}

output "compute_logs_bucket_arn" {
  value = local.compute_logs_arn
}

output "kms_key_arn" {
  description = "The buckets' KMS key (tasks that read or write them need kms:Decrypt and kms:GenerateDataKey on it)."
  value       = aws_kms_key.s3.arn
}

output "raw_bucket_policy" {
  description = "The raw bucket's policy document (asserted by the tests)."
  value       = local.raw_policy
}
