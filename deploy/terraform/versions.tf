# Terraform and provider versions, and the AWS provider itself.
#
# The AWS provider is pinned to 6.28 or later: 6.28.0 added
# `invoked_via_function_url` to aws_lambda_permission, which the Function
# URL's second permission (function_url.tf) needs. Every resource the
# provider creates carries the `stampede:deployment` tag through
# default_tags, so `deploy.sh destroy` can find leftovers by that tag.
terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.28"
    }
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "stampede:deployment" = var.deployment
    }
  }
}
