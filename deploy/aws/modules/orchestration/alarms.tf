# Alarms: failed or quarantined runs, the daemon not running, and the database's connections, CPU and
# free storage. Notifications go to an SNS topic (given, or made here).

resource "aws_sns_topic" "alarms" {
  count             = var.alarm_topic_arn == null ? 1 : 0
  name              = "${var.name}-alarms"
  kms_master_key_id = "alias/aws/sns"
}

locals {
  topic = var.alarm_topic_arn == null ? aws_sns_topic.alarms[0].arn : var.alarm_topic_arn
  # Dagster's run worker logs RUN_FAILURE when a run fails; jackfruit's raw assets log "quarantined".
  log_patterns = { failed_runs = "\"RUN_FAILURE\"", quarantined_runs = "\"quarantined\"" }
}

resource "aws_cloudwatch_log_metric_filter" "runs" {
  for_each       = local.log_patterns
  name           = "${var.name}-${each.key}"
  log_group_name = aws_cloudwatch_log_group.this["run"].name
  pattern        = each.value
  metric_transformation {
    name          = each.key
    namespace     = "jackfruit/${var.name}"
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "runs" {
  for_each            = var.alarms ? local.log_patterns : {}
  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = "A Dagster run ${each.key == "failed_runs" ? "failed" : "was quarantined"} (log group ${aws_cloudwatch_log_group.this["run"].name})"
  namespace           = "jackfruit/${var.name}"
  metric_name         = each.key
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.topic]
}

resource "aws_cloudwatch_metric_alarm" "daemon" {
  count               = var.alarms ? 1 : 0
  alarm_name          = "${var.name}-daemon-not-running"
  alarm_description   = "The Dagster daemon (schedules, sensors, run queue, run monitoring) has no running task"
  namespace           = "ECS/ContainerInsights"
  metric_name         = "RunningTaskCount"
  dimensions          = { ClusterName = aws_ecs_cluster.this.name, ServiceName = "daemon" }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 5
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [local.topic]
}

locals {
  db_alarms = {
    connections  = { metric = "DatabaseConnections", op = "GreaterThanThreshold", threshold = floor(var.database.max_connections * 0.8), what = "connections above 80 % of max_connections" }
    cpu          = { metric = "CPUUtilization", op = "GreaterThanThreshold", threshold = 80, what = "CPU above 80 %" }
    free_storage = { metric = "FreeStorageSpace", op = "LessThanThreshold", threshold = 10 * 1024 * 1024 * 1024, what = "less than 10 GiB free" }
  }
}

resource "aws_cloudwatch_metric_alarm" "database" {
  for_each            = var.alarms ? local.db_alarms : {}
  alarm_name          = "${var.name}-db-${each.key}"
  alarm_description   = "Catalog database: ${each.value.what}"
  namespace           = "AWS/RDS"
  metric_name         = each.value.metric
  dimensions          = { DBInstanceIdentifier = var.database.instance_id }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  threshold           = each.value.threshold
  comparison_operator = each.value.op
  alarm_actions       = [local.topic]
}
