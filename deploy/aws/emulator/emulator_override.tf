# Tier 2 only (scripts/iac-check copies this file into a copy of envs/example): the provider talks to the
# AWS emulator on loopback (moto_server), with throwaway credentials. Never used against AWS.
provider "aws" {
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  # with no account id the provider reads bucket tags by GetBucketTagging instead of S3 Control, whose
  # account-prefixed host cannot point at an emulator on loopback (the stack's ARNs come from
  # data.aws_caller_identity, which still asks the emulator)
  skip_requesting_account_id = true
  skip_metadata_api_check    = true
  skip_region_validation     = true
  s3_use_path_style          = true
  endpoints {
    ec2              = var.emulator_endpoint
    ecs              = var.emulator_endpoint
    ecr              = var.emulator_endpoint
    elbv2            = var.emulator_endpoint
    iam              = var.emulator_endpoint
    kms              = var.emulator_endpoint
    logs             = var.emulator_endpoint
    rds              = var.emulator_endpoint
    s3               = var.emulator_endpoint
    secretsmanager   = var.emulator_endpoint
    servicediscovery = var.emulator_endpoint
    sns              = var.emulator_endpoint
    sts              = var.emulator_endpoint
    cloudwatch       = var.emulator_endpoint
  }
}
