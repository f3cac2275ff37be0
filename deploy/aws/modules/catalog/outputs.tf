output "host" {
  value = aws_db_instance.this.address
}

output "port" {
  value = aws_db_instance.this.port
}

output "master_secret_arn" {
  description = "The master user's secret, managed (and rotated) by RDS: only the bootstrap task reads it."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "role_secret_arns" {
  description = "Secrets Manager ARNs of the jackfruit and dagster roles' passwords."
  value       = { for k, s in aws_secretsmanager_secret.role : k => s.arn }
}

output "db_security_group_id" {
  value = aws_security_group.db.id
}

output "instance_id" {
  value = aws_db_instance.this.identifier
}
