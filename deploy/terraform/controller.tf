# The controller host (only when var.controller_enabled): one Debian
# instance in the first zone, configured by cloud-init
# (controller.yaml.tftpl). It makes its CURVE key and its API token on
# the instance; neither passes through Terraform. It prints its public key
# on the serial console (`aws ec2 get-console-output`), which is where
# var.controller_public_key comes from for the agents.
#
# Nothing reaches it but var.allowed_cidrs and the deployment's agents
# (security_groups.tf). Operators reach its shell through Systems Manager
# (the instance profile below), never SSH: that is how agent keys are
# enrolled and the token read.

resource "aws_iam_role" "controller" {
  count = var.controller_enabled ? 1 : 0
  name  = "${var.deployment}-controller"

  assume_role_policy = local.trust_policy["ec2"]
}

resource "aws_iam_role_policy_attachment" "controller_ssm" {
  count      = var.controller_enabled ? 1 : 0
  role       = aws_iam_role.controller[0].name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "controller" {
  count = var.controller_enabled ? 1 : 0
  name  = "${var.deployment}-controller"
  role  = aws_iam_role.controller[0].name
}

resource "aws_instance" "controller" {
  count                  = var.controller_enabled ? 1 : 0
  ami                    = data.aws_ami.debian[0].id
  instance_type          = var.controller_instance_type
  subnet_id              = aws_subnet.hosts[0].id
  vpc_security_group_ids = [aws_security_group.controller[0].id]
  iam_instance_profile   = aws_iam_instance_profile.controller[0].name

  user_data = templatefile("${path.module}/controller.yaml.tftpl", {
    package_url    = var.agent_package_url
    region         = var.region
    agent_port     = local.agent_port
    dashboard_port = local.dashboard_port
  })
  user_data_replace_on_change = true

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 16
    encrypted   = true
  }

  # default_tags do not reach the volumes an instance creates.
  volume_tags = {
    "stampede:deployment" = var.deployment
    Name                  = "${var.deployment}-controller"
  }

  tags = {
    Name = "${var.deployment}-controller"
  }

  lifecycle {
    precondition {
      condition     = var.agent_package_url != ""
      error_message = "the controller host needs agent_package_url (the stampede .deb it installs)."
    }
  }
}
