# What may reach what. Agents dial out and accept nothing: their security
# group has no ingress rule at all. The controller accepts its agent port
# and its dashboard only from var.allowed_cidrs (never 0.0.0.0/0, see the
# variable's validation) and its agent port from the agents' group.
#
# The only rules naming the whole Internet are egress on HTTP and HTTPS:
# agents must reach the public front doors they burst (Lambda Function
# URLs and API Gateway, whose addresses AWS publishes only as large,
# changing ranges), and every host fetches the stampede package and
# Debian's packages.

locals {
  agents_enabled = var.agent_count > 0 || var.agent_fargate_count > 0
}

resource "aws_security_group" "agents" {
  count       = local.agents_enabled ? 1 : 0
  name        = "${var.deployment}-agents"
  description = "stampede agents: no ingress, egress to the web and the controller"
  vpc_id      = aws_vpc.hosts[0].id

  tags = {
    Name = "${var.deployment}-agents"
  }
}

resource "aws_vpc_security_group_egress_rule" "agents_https" {
  count             = local.agents_enabled ? 1 : 0
  security_group_id = aws_security_group.agents[0].id
  description       = "front doors, package, image registry"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "agents_http" {
  count             = local.agents_enabled ? 1 : 0
  security_group_id = aws_security_group.agents[0].id
  description       = "Debian packages"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "agents_to_controller" {
  count                        = local.agents_enabled && var.controller_enabled ? 1 : 0
  security_group_id            = aws_security_group.agents[0].id
  description                  = "the controller's agent port"
  ip_protocol                  = "tcp"
  from_port                    = local.agent_port
  to_port                      = local.agent_port
  referenced_security_group_id = aws_security_group.controller[0].id
}

resource "aws_security_group" "controller" {
  count       = var.controller_enabled ? 1 : 0
  name        = "${var.deployment}-controller"
  description = "stampede controller: agent port and dashboard from allowed CIDRs and the agents"
  vpc_id      = aws_vpc.hosts[0].id

  tags = {
    Name = "${var.deployment}-controller"
  }
}

resource "aws_vpc_security_group_ingress_rule" "controller_agent_port" {
  for_each          = var.controller_enabled ? toset(var.allowed_cidrs) : toset([])
  security_group_id = aws_security_group.controller[0].id
  description       = "agents outside the deployment"
  ip_protocol       = "tcp"
  from_port         = local.agent_port
  to_port           = local.agent_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "controller_dashboard" {
  for_each          = var.controller_enabled ? toset(var.allowed_cidrs) : toset([])
  security_group_id = aws_security_group.controller[0].id
  description       = "dashboard and API"
  ip_protocol       = "tcp"
  from_port         = local.dashboard_port
  to_port           = local.dashboard_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "controller_from_agents" {
  count                        = local.agents_enabled && var.controller_enabled ? 1 : 0
  security_group_id            = aws_security_group.controller[0].id
  description                  = "the deployment's agents"
  ip_protocol                  = "tcp"
  from_port                    = local.agent_port
  to_port                      = local.agent_port
  referenced_security_group_id = aws_security_group.agents[0].id
}

resource "aws_vpc_security_group_egress_rule" "controller_https" {
  count             = var.controller_enabled ? 1 : 0
  security_group_id = aws_security_group.controller[0].id
  description       = "package"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "controller_http" {
  count             = var.controller_enabled ? 1 : 0
  security_group_id = aws_security_group.controller[0].id
  description       = "Debian packages"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}
