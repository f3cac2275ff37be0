terraform {
  required_version = ">= 1.12.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0"
    }
  }
  # State: an S3 backend with locking, in its own account or bucket (docs/deploy-aws.md, "state").
  # backend "s3" {}
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      Project     = "jackfruit"
      Environment = var.environment
    }
  }
}
