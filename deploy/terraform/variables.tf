# Every input of the deployment. deploy/deploy.sh sets them with -var;
# the defaults deploy the function alone (no hosts, no agents).

variable "region" {
  description = "AWS region of every resource."
  type        = string
  default     = "us-east-1"
}

variable "deployment" {
  description = "Name of this deployment: prefixes resource names and is the value of the stampede:deployment tag on everything."
  type        = string
  default     = "stampede-demo"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,31}$", var.deployment))
    error_message = "deployment: 1 to 32 characters, lower-case letters, digits and '-', starting with a letter."
  }
}

variable "function_name" {
  description = "Name of the Lambda function."
  type        = string
  default     = "stampede-burst-demo"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name: 1 to 64 letters, digits, '-' or '_'."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrency of the function; -1 leaves it unreserved (it then draws on the account's unreserved pool)."
  type        = number
  default     = 5

  validation {
    condition     = var.reserved_concurrency >= -1 && floor(var.reserved_concurrency) == var.reserved_concurrency
    error_message = "reserved_concurrency: a whole number, -1 (unreserved) or 0 and above."
  }
}

variable "provisioned_concurrency" {
  description = "Provisioned concurrency on the alias \"live\"; 0 creates no provisioned concurrency config."
  type        = number
  default     = 0

  validation {
    condition     = var.provisioned_concurrency >= 0 && floor(var.provisioned_concurrency) == var.provisioned_concurrency
    error_message = "provisioned_concurrency: a whole number, 0 or above."
  }
}

variable "function_zip" {
  description = "The function's deployment package built by `make package`, relative to deploy/terraform."
  type        = string
  default     = "../../build/package/stampede-function.zip"
}

variable "agent_count" {
  description = "Number of agents on EC2 instances, spread over the deployment's availability zones."
  type        = number
  default     = 0

  validation {
    condition     = var.agent_count >= 0 && var.agent_count <= 100 && floor(var.agent_count) == var.agent_count
    error_message = "agent_count: a whole number from 0 to 100."
  }
}

variable "agent_fargate_count" {
  description = "Number of agents as ECS tasks on Fargate."
  type        = number
  default     = 0

  validation {
    condition     = var.agent_fargate_count >= 0 && var.agent_fargate_count <= 100 && floor(var.agent_fargate_count) == var.agent_fargate_count
    error_message = "agent_fargate_count: a whole number from 0 to 100."
  }
}

variable "controller_enabled" {
  description = "Run the controller on an EC2 instance of this deployment (needed by agents_ec2 and agents_fargate)."
  type        = bool
  default     = false
}

variable "controller_public_key" {
  description = "The controller's CURVE public key (Z85, 40 characters), read from the controller host once it has generated it; agents pin it."
  type        = string
  default     = ""

  validation {
    condition     = var.controller_public_key == "" || can(regex("^[0-9A-Za-z.:+=^!/*?&<>()\\[\\]{}@%$#-]{40}$", var.controller_public_key))
    error_message = "controller_public_key: empty or a 40-character Z85 key."
  }
}

variable "allowed_cidrs" {
  description = "CIDRs allowed to reach the controller's agent port and dashboard port. Never the whole Internet."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.allowed_cidrs : can(cidrnetmask(cidr)) && !contains(["0.0.0.0/0", "::/0"], cidr)])
    error_message = "allowed_cidrs: IPv4 CIDRs such as 203.0.113.7/32; 0.0.0.0/0 and ::/0 are refused."
  }
}

variable "max_lifetime_minutes" {
  description = "Minutes after which an agent stops by itself: EC2 agents shut down (and so terminate), Fargate agents are scaled to 0."
  type        = number
  default     = 120

  validation {
    condition     = var.max_lifetime_minutes >= 10 && var.max_lifetime_minutes <= 1440
    error_message = "max_lifetime_minutes: from 10 to 1440."
  }
}

variable "api_throttle_burst_limit" {
  description = "Stage throttling burst limit of both API Gateway APIs (set explicitly: an HTTP API stage left without it may reject every request)."
  type        = number
  default     = 1000
}

variable "api_throttle_rate_limit" {
  description = "Stage throttling rate limit (requests per second) of both API Gateway APIs."
  type        = number
  default     = 1000
}

variable "agent_package_url" {
  description = "HTTPS URL the hosts fetch the stampede .deb from (for example an S3 presigned URL); needed by agents_ec2 and controller."
  type        = string
  default     = ""

  validation {
    condition     = var.agent_package_url == "" || startswith(var.agent_package_url, "https://")
    error_message = "agent_package_url: empty or an https:// URL."
  }
}

variable "agent_image" {
  description = "OCI image of the agent for Fargate; empty means the deployment's ECR repository, tag latest."
  type        = string
  default     = ""
}

variable "agent_instance_type" {
  description = "EC2 instance type of the agents."
  type        = string
  default     = "t3.small"
}

variable "controller_instance_type" {
  description = "EC2 instance type of the controller host."
  type        = string
  default     = "t3.small"
}
