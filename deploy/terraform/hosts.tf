# What the agent and controller hosts share: a VPC with one public subnet
# in each of two availability zones, and the Debian 12 image they boot
# (the stampede package is a .deb). Created only when a host is wanted.
#
# Hosts get a public address so they can dial out (to the function's
# front doors, the package URL and the controller) without a NAT gateway;
# their security groups decide what may come in: nothing for agents,
# var.allowed_cidrs for the controller.

locals {
  hosts_enabled = var.agent_count > 0 || var.agent_fargate_count > 0 || var.controller_enabled
  zone_count    = local.hosts_enabled ? 2 : 0

  # The controller's ports: agents dial agent_port, browsers dashboard_port.
  agent_port     = 5555
  dashboard_port = 5000
}

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_ami" "debian" {
  count       = local.hosts_enabled ? 1 : 0
  most_recent = true
  owners      = ["136693071363"] # Debian's official AWS account

  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

resource "aws_vpc" "hosts" {
  count                = local.hosts_enabled ? 1 : 0
  cidr_block           = "10.42.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = {
    Name = var.deployment
  }
}

resource "aws_internet_gateway" "hosts" {
  count  = local.hosts_enabled ? 1 : 0
  vpc_id = aws_vpc.hosts[0].id

  tags = {
    Name = var.deployment
  }
}

resource "aws_subnet" "hosts" {
  count                   = local.zone_count
  vpc_id                  = aws_vpc.hosts[0].id
  availability_zone       = data.aws_availability_zones.available.names[count.index]
  cidr_block              = cidrsubnet(aws_vpc.hosts[0].cidr_block, 8, count.index)
  map_public_ip_on_launch = true

  tags = {
    Name = "${var.deployment}-${data.aws_availability_zones.available.names[count.index]}"
  }
}

resource "aws_route_table" "hosts" {
  count  = local.hosts_enabled ? 1 : 0
  vpc_id = aws_vpc.hosts[0].id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.hosts[0].id
  }

  tags = {
    Name = var.deployment
  }
}

resource "aws_route_table_association" "hosts" {
  count          = local.zone_count
  subnet_id      = aws_subnet.hosts[count.index].id
  route_table_id = aws_route_table.hosts[0].id
}
