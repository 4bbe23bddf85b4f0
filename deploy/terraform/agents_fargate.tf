# Agents as ECS tasks on Fargate: the agent's OCI image (deploy/oci),
# pushed to this deployment's ECR repository unless var.agent_image names
# another, run as var.agent_fargate_count tasks of one service in the
# deployment's public subnets, with the agents' security group (no
# ingress). Every container has a read-only root file system; the agent's
# runs as the image's user (65532, no shell in the image).
#
# Keys are made inside the task and never leave it. The task's ephemeral
# volume (keys_dir) holds them; before the agent starts, three short steps
# run in order: "prepare" (busybox, root) makes the volume the agent user's
# and writes the controller's public certificate from
# var.controller_public_key; "keygen" (the agent image) makes the agent's
# certificate; "announce" (busybox) prints the agent's public key to the
# log group, from where it is enrolled at the controller
# (docs/deploy-daemons.md). A new task has a new key.
#
# Maximum lifetime: an EventBridge Scheduler one-off schedule sets the
# service's desired count to 0 var.max_lifetime_minutes after the last
# apply.

locals {
  fargate_enabled = var.agent_fargate_count > 0
  agent_image     = var.agent_image != "" ? var.agent_image : join("", [for repo in aws_ecr_repository.agent : "${repo.repository_url}:latest"])
  busybox_image   = "public.ecr.aws/docker/library/busybox:1.36.1"
  agent_user      = "65532:65532"
  keys_dir        = "/var/lib/stampede-agent"
  keys_mount      = [{ sourceVolume = "agent-keys", containerPath = local.keys_dir, readOnly = false }]
  fargate_log = {
    logDriver = "awslogs"
    options = {
      awslogs-group         = one(aws_cloudwatch_log_group.fargate_agents[*].name)
      awslogs-region        = var.region
      awslogs-stream-prefix = "agent"
    }
  }

  fargate_containers = [
    {
      name                   = "prepare"
      image                  = local.busybox_image
      essential              = false
      user                   = "0"
      readonlyRootFilesystem = true
      environment            = [{ name = "CONTROLLER_PUBLIC_KEY", value = var.controller_public_key }]
      command = ["sh", "-c", join(" && ", [
        "printf 'curve\\n    public-key = \"%s\"\\n' \"$CONTROLLER_PUBLIC_KEY\" > ${local.keys_dir}/controller.key",
        "chown -R ${local.agent_user} ${local.keys_dir}",
      ])]
      mountPoints      = local.keys_mount
      logConfiguration = local.fargate_log
    },
    {
      name                   = "keygen"
      image                  = local.agent_image
      essential              = false
      user                   = local.agent_user
      readonlyRootFilesystem = true
      dependsOn              = [{ containerName = "prepare", condition = "SUCCESS" }]
      command                = ["--keygen", "${local.keys_dir}/agent.key"]
      mountPoints            = local.keys_mount
      logConfiguration       = local.fargate_log
    },
    {
      name                   = "announce"
      image                  = local.busybox_image
      essential              = false
      user                   = local.agent_user
      readonlyRootFilesystem = true
      dependsOn              = [{ containerName = "keygen", condition = "SUCCESS" }]
      command                = ["sed", "-n", "s/^ *public-key = \"\\(.*\\)\"$/stampede agent public key: \\1/p", "${local.keys_dir}/agent.key"]
      mountPoints            = local.keys_mount
      logConfiguration       = local.fargate_log
    },
    {
      name                   = "agent"
      image                  = local.agent_image
      essential              = true
      user                   = local.agent_user
      readonlyRootFilesystem = true
      dependsOn              = [{ containerName = "keygen", condition = "SUCCESS" }]
      command = concat([
        "--controller", "tcp://${local.controller_private_endpoint}",
        "--server-key", "${local.keys_dir}/controller.key",
        "--key", "${local.keys_dir}/agent.key",
      ], flatten([for target in local.agent_allowed_targets : ["--allow", target]]))
      mountPoints      = local.keys_mount
      ulimits          = [{ name = "nofile", softLimit = 65535, hardLimit = 65535 }]
      logConfiguration = local.fargate_log
    },
  ]
}

resource "aws_ecr_repository" "agent" {
  count                = local.fargate_enabled && var.agent_image == "" ? 1 : 0
  name                 = "${var.deployment}/stampede-agent"
  image_tag_mutability = "MUTABLE"
  force_delete         = true
}

resource "aws_ecs_cluster" "agents" {
  count = local.fargate_enabled ? 1 : 0
  name  = "${var.deployment}-agents"
}

resource "aws_cloudwatch_log_group" "fargate_agents" {
  count             = local.fargate_enabled ? 1 : 0
  name              = "/stampede/${var.deployment}/agents"
  retention_in_days = 7
}

resource "aws_iam_role" "fargate_execution" {
  count = local.fargate_enabled ? 1 : 0
  name  = "${var.deployment}-agent-execution"

  assume_role_policy = local.trust_policy["ecs-tasks"]
}

resource "aws_iam_role_policy_attachment" "fargate_execution" {
  count      = local.fargate_enabled ? 1 : 0
  role       = aws_iam_role.fargate_execution[0].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_ecs_task_definition" "agent" {
  count                    = local.fargate_enabled ? 1 : 0
  family                   = "${var.deployment}-agent"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 512
  memory                   = 1024
  execution_role_arn       = aws_iam_role.fargate_execution[0].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "agent-keys"
  }

  container_definitions = jsonencode(local.fargate_containers)

  lifecycle {
    precondition {
      condition     = var.controller_enabled && var.controller_public_key != ""
      error_message = "agents on Fargate need controller_enabled = true and controller_public_key (the controller's public key, once it has made it)."
    }
  }
}

resource "aws_ecs_service" "agents" {
  count           = local.fargate_enabled ? 1 : 0
  name            = "${var.deployment}-agents"
  cluster         = aws_ecs_cluster.agents[0].id
  task_definition = aws_ecs_task_definition.agent[0].arn
  desired_count   = var.agent_fargate_count
  launch_type     = "FARGATE"

  network_configuration {
    subnets          = aws_subnet.hosts[*].id
    security_groups  = [aws_security_group.agents[0].id]
    assign_public_ip = true
  }

  # Tasks carry the service's tags, default_tags included.
  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true
}

# The instant the Fargate agents' lifetime ends, counted from the last
# apply: an apply after the schedule fired brings the service back to
# var.agent_fargate_count tasks, so it also starts a new lifetime.
resource "time_offset" "fargate_agents_end" {
  count          = local.fargate_enabled ? 1 : 0
  offset_minutes = var.max_lifetime_minutes

  triggers = {
    applied_at = plantimestamp()
  }
}

resource "aws_iam_role" "fargate_lifetime" {
  count = local.fargate_enabled ? 1 : 0
  name  = "${var.deployment}-agent-lifetime"

  assume_role_policy = local.trust_policy["scheduler"]
}

resource "aws_iam_role_policy" "fargate_lifetime" {
  count = local.fargate_enabled ? 1 : 0
  name  = "scale-agents-to-zero"
  role  = aws_iam_role.fargate_lifetime[0].id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "ecs:UpdateService"
      Resource = aws_ecs_service.agents[0].id
    }]
  })
}

resource "aws_scheduler_schedule" "fargate_agents_end" {
  count                        = local.fargate_enabled ? 1 : 0
  name                         = "${var.deployment}-agents-end"
  description                  = "stampede: scale the Fargate agents to 0 at the end of their lifetime"
  schedule_expression          = "at(${formatdate("YYYY-MM-DD'T'hh:mm:ss", time_offset.fargate_agents_end[0].rfc3339)})"
  schedule_expression_timezone = "UTC"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = "arn:aws:scheduler:::aws-sdk:ecs:updateService"
    role_arn = aws_iam_role.fargate_lifetime[0].arn
    input = jsonencode({
      Cluster      = aws_ecs_cluster.agents[0].name
      Service      = aws_ecs_service.agents[0].name
      DesiredCount = 0
    })
  }
}
