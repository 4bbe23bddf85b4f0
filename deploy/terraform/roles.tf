# The trust policy of a role that one AWS service assumes, by service:
# the function's role (lambda), the controller host's (ec2), the Fargate
# agents' task execution role (ecs-tasks) and the role the schedule that
# ends the Fargate agents' lifetime acts with (scheduler). Each role names
# exactly one service.

locals {
  trust_policy = {
    for service in ["lambda", "ec2", "ecs-tasks", "scheduler"] :
    service => jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Effect    = "Allow"
        Principal = { Service = "${service}.amazonaws.com" }
        Action    = "sts:AssumeRole"
      }]
    })
  }
}
