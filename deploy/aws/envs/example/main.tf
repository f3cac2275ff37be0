# An example production root: the four modules wired together. Copy it per environment, set the variables
# (terraform.tfvars), keep its state in an S3 backend. docs/deploy-aws.md walks through a first deployment.

locals {
  name = "jackfruit-${var.environment}"
}

module "storage" {
  source                     = "../../modules/storage"
  bucket_prefix              = var.bucket_prefix
  object_lock_mode           = var.object_lock_mode
  object_lock_years          = var.object_lock_years
  curated_prune_after_days   = var.curated_prune_after_days
  deny_insecure_transport    = var.deny_insecure_transport
  enforce_conditional_writes = var.enforce_conditional_writes
  force_destroy_unlocked     = var.test_stack
}

module "network" {
  source             = "../../modules/network"
  name               = local.name
  availability_zones = var.availability_zones
  nat_gateway        = var.nat_gateway
  kms_key_arn        = module.orchestration.logs_kms_key_arn
}

module "catalog" {
  source                    = "../../modules/catalog"
  name                      = local.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  client_security_group_ids = module.orchestration.task_security_group_ids
  instance_class            = var.db_instance_class
  multi_az                  = var.db_multi_az
  backup_retention_days     = var.db_backup_retention_days
  deletion_protection       = var.db_deletion_protection
  kms_key_arn               = module.storage.kms_key_arn
  log_retention_days        = var.log_retention_days
}

module "orchestration" {
  source            = "../../modules/orchestration"
  name              = local.name
  vpc_id            = module.network.vpc_id
  vpc_cidr          = module.network.cidr_block
  subnet_ids        = module.network.private_subnet_ids
  s3_prefix_list_id = module.network.s3_prefix_list_id
  image             = var.image
  certificate_arn   = var.certificate_arn
  buckets = {
    raw              = module.storage.raw_bucket
    raw_arn          = module.storage.raw_bucket_arn
    curated          = module.storage.curated_bucket
    curated_arn      = module.storage.curated_bucket_arn
    compute_logs     = module.storage.compute_logs_bucket
    compute_logs_arn = module.storage.compute_logs_bucket_arn
    kms_key_arn      = module.storage.kms_key_arn
  }
  database = {
    host                = module.catalog.host
    port                = module.catalog.port
    instance_id         = module.catalog.instance_id
    catalog_db          = "jackfruit"
    catalog_user        = "jackfruit"
    catalog_secret_arn  = module.catalog.role_secret_arns["jackfruit"]
    dagster_db          = "dagster"
    dagster_user        = "dagster"
    dagster_secret_arn  = module.catalog.role_secret_arns["dagster"]
    master_secret_arn   = module.catalog.master_secret_arn
    secrets_kms_key_arn = module.storage.kms_key_arn
    max_connections     = 200
  }
  egress_proxy       = var.egress_proxy
  alarm_topic_arn    = var.alarm_topic_arn
  start_services     = var.start_services
  log_retention_days = var.log_retention_days
  alarms             = var.alarms
}
