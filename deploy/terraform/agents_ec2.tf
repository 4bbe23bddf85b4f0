# Agents on EC2: var.agent_count Debian instances spread over the
# deployment's zones, each configured by cloud-init
# (deploy/cloud-init/agent.yaml.tftpl): it installs the stampede package,
# generates the agent's key on the instance, pins the controller's public
# key and dials the controller. No SSH, no ingress (security_groups.tf).
#
# After var.max_lifetime_minutes the instance shuts itself down, and
# instance_initiated_shutdown_behavior = "terminate" makes that the end of
# it: a forgotten agent costs at most that long. Terraform then shows the
# instance as gone; `deploy.sh agents down` or `destroy` settles its state.

locals {
  # The controller as agents inside the deployment dial it: its private
  # address, which stays the same for the instance's life.
  controller_private_endpoint = var.controller_enabled ? "${aws_instance.controller[0].private_ip}:${local.agent_port}" : ""

  # Where agents may send requests: the front doors of this region.
  agent_allowed_targets = [
    "*.lambda-url.${var.region}.on.aws",
    "*.execute-api.${var.region}.amazonaws.com",
  ]
}

resource "aws_instance" "agents" {
  count                  = var.agent_count
  ami                    = data.aws_ami.debian[0].id
  instance_type          = var.agent_instance_type
  subnet_id              = aws_subnet.hosts[count.index % local.zone_count].id
  vpc_security_group_ids = [aws_security_group.agents[0].id]

  instance_initiated_shutdown_behavior = "terminate"

  user_data = templatefile("${path.module}/../cloud-init/agent.yaml.tftpl", {
    agent_name            = "${var.deployment}-ec2-${count.index}"
    controller_endpoint   = local.controller_private_endpoint
    controller_public_key = var.controller_public_key
    max_lifetime_minutes  = var.max_lifetime_minutes
    package_url           = var.agent_package_url
    allowed_targets       = local.agent_allowed_targets
  })
  user_data_replace_on_change = true

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 8
    encrypted   = true
  }

  # default_tags do not reach the volumes an instance creates.
  volume_tags = {
    "stampede:deployment" = var.deployment
    Name                  = "${var.deployment}-ec2-${count.index}"
  }

  tags = {
    Name = "${var.deployment}-ec2-${count.index}"
  }

  lifecycle {
    precondition {
      condition     = var.controller_enabled && var.controller_public_key != "" && var.agent_package_url != ""
      error_message = "agents on EC2 need controller_enabled = true, controller_public_key (the controller's public key, once it has made it) and agent_package_url."
    }
  }
}
