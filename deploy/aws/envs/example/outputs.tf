# jackfruit's own environment interface, the names it reads locally: `tofu output -json jackfruit_env`.
# Secrets appear only as Secrets Manager ARNs (the ECS task definitions inject their values).
output "jackfruit_env" {
  description = "jackfruit's configuration for this stack, by environment variable name."
  value = {
    JACKFRUIT_OBJECT_STORE               = "s3"
    MINIO_BUCKET                         = module.storage.raw_bucket
    JACKFRUIT_CURATED_BUCKET             = module.storage.curated_bucket
    JACKFRUIT_S3_REGION                  = var.region
    JACKFRUIT_CATALOG                    = "postgres"
    POSTGRES_HOST                        = module.catalog.host
    POSTGRES_PORT                        = tostring(module.catalog.port)
    POSTGRES_DB                          = "jackfruit"
    POSTGRES_USER                        = "jackfruit"
    POSTGRES_SSLMODE                     = "verify-full"
    POSTGRES_PASSWORD_SECRET_ARN         = module.catalog.role_secret_arns["jackfruit"]
    DAGSTER_POSTGRES_PASSWORD_SECRET_ARN = module.catalog.role_secret_arns["dagster"]
    ADS_API_KEY_SECRET_ARN               = module.orchestration.ads_api_key_secret_arn
  }
}

output "ecs" {
  description = "What the operator needs to run the one-off tasks and push images."
  value = {
    cluster            = module.orchestration.cluster_name
    run_task_family    = module.orchestration.run_task_family
    oneoff_families    = module.orchestration.oneoff_task_families
    subnets            = module.network.private_subnet_ids
    security_group     = module.orchestration.run_security_group_id
    compute_logs       = module.storage.compute_logs_bucket
    ecr_repository_url = module.orchestration.ecr_repository_url
    webserver_url      = module.orchestration.webserver_url
  }
}

output "raw_bucket_policy" {
  description = "The raw bucket's policy (the tests read it)."
  value       = module.storage.raw_bucket_policy
}
