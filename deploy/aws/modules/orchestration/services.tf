# The long-running services: the code location's gRPC server (found by service discovery), the webserver
# (behind an internal HTTPS load balancer; optional OIDC), and exactly one daemon.

locals {
  service_counts = { code = 1, webserver = 1, daemon = 1 }
}

resource "aws_ecs_service" "this" {
  for_each               = local.service_counts
  name                   = each.key
  cluster                = aws_ecs_cluster.this.id
  task_definition        = aws_ecs_task_definition.service[each.key].arn
  desired_count          = var.start_services ? each.value : 0
  launch_type            = "FARGATE"
  propagate_tags         = "SERVICE"
  enable_execute_command = false
  # The daemon must never run twice, not even during a deployment: stop the old task before starting the
  # new one (maximum 100 %, minimum healthy 0 %). The others roll with one extra task.
  deployment_maximum_percent         = each.key == "daemon" ? 100 : 200
  deployment_minimum_healthy_percent = each.key == "daemon" ? 0 : 100
  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.services.id]
    assign_public_ip = false
  }
  dynamic "service_registries" {
    for_each = each.key == "code" ? [1] : []
    content {
      registry_arn = aws_service_discovery_service.code.arn
    }
  }
  dynamic "load_balancer" {
    for_each = each.key == "webserver" ? [1] : []
    content {
      target_group_arn = aws_lb_target_group.webserver.arn
      container_name   = "webserver"
      container_port   = 3000
    }
  }
  depends_on = [aws_lb_listener.https]
}

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "Load balancer of the webserver: HTTPS from the VPC"
  vpc_id      = var.vpc_id
  ingress {
    description = "HTTPS from inside the VPC (VPN, bastion)"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
  egress {
    description = "To the webserver tasks"
    from_port   = 3000
    to_port     = 3000
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
}

resource "aws_lb" "webserver" {
  # checkov:skip=CKV2_AWS_28:internal load balancer reached only from the VPC; put a WAF in front when exposing it
  # checkov:skip=CKV_AWS_91:access logs off by default for the internal listener; the webserver's own logs go to CloudWatch
  name                       = "${var.name}-web"
  internal                   = var.webserver_internal
  load_balancer_type         = "application"
  subnets                    = var.subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = true
}

resource "aws_lb_target_group" "webserver" {
  name        = "${var.name}-web"
  port        = 3000
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id
  health_check {
    path    = "/server_info"
    matcher = "200"
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.webserver.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn
  dynamic "default_action" {
    for_each = var.oidc == null ? [] : [var.oidc]
    content {
      type  = "authenticate-oidc"
      order = 1
      authenticate_oidc {
        issuer                 = default_action.value.issuer
        authorization_endpoint = default_action.value.authorization_endpoint
        token_endpoint         = default_action.value.token_endpoint
        user_info_endpoint     = default_action.value.user_info_endpoint
        client_id              = default_action.value.client_id
        client_secret          = data.aws_secretsmanager_secret_version.oidc[0].secret_string
      }
    }
  }
  default_action {
    type             = "forward"
    order            = 2
    target_group_arn = aws_lb_target_group.webserver.arn
  }
}

data "aws_secretsmanager_secret_version" "oidc" {
  count     = var.oidc == null ? 0 : 1
  secret_id = var.oidc.client_secret_arn
}
