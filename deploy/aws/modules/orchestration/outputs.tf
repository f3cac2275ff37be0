output "cluster_name" {
  value = aws_ecs_cluster.this.name
}

output "run_task_family" {
  value = aws_ecs_task_definition.run.family
}

output "run_security_group_id" {
  value = aws_security_group.runs.id
}

output "task_security_group_ids" {
  description = "Security groups of every task (the database admits them)."
  value       = [aws_security_group.services.id, aws_security_group.runs.id]
}

output "ecr_repository_url" {
  value = aws_ecr_repository.this.repository_url
}

output "ads_api_key_secret_arn" {
  value = aws_secretsmanager_secret.ads_api_key.arn
}

output "webserver_url" {
  value = "https://${aws_lb.webserver.dns_name}"
}

output "oneoff_task_families" {
  value = { for k, t in aws_ecs_task_definition.oneoff : k => t.family }
}

output "logs_kms_key_arn" {
  value = aws_kms_key.logs.arn
}

output "iam_policies" {
  description = "The task roles' policies, by role (the tier 1 tests read them)."
  value       = { execution = local.execution_policy, runs = local.runs_policy, services = local.services_policy }
}
