# What deploy.sh and the operator read back (`terraform output -raw NAME`).
# Each *_url is the whole URL that invokes the function through that door.

output "deployment" {
  description = "The deployment name every resource is tagged with (stampede:deployment)."
  value       = var.deployment
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.burst.function_name
}

output "alias_name" {
  description = "The alias every front door invokes."
  value       = aws_lambda_alias.live.name
}

output "alias_arn" {
  description = "ARN of the alias, the qualifier for provisioned concurrency."
  value       = aws_lambda_alias.live.arn
}

output "function_url" {
  description = "Function URL of the alias (auth NONE)."
  value       = aws_lambda_function_url.live.function_url
}

output "http_api_url" {
  description = "URL of the HTTP API's $default stage."
  value       = "${aws_apigatewayv2_api.http.api_endpoint}/"
}

output "rest_api_url" {
  description = "URL of the REST API's stage live."
  value       = "${aws_api_gateway_stage.live.invoke_url}/"
}

output "controller_endpoint" {
  description = "host:port agents outside the deployment dial (from allowed_cidrs), or null without a controller."
  value       = var.controller_enabled ? "${aws_instance.controller[0].public_ip}:${local.agent_port}" : null
}

output "dashboard_url" {
  description = "The controller's dashboard (from allowed_cidrs, with its token), or null without a controller."
  value       = var.controller_enabled ? "http://${aws_instance.controller[0].public_ip}:${local.dashboard_port}/" : null
}

output "controller_instance_id" {
  description = "The controller's instance, for `aws ec2 get-console-output` and Systems Manager, or null."
  value       = var.controller_enabled ? aws_instance.controller[0].id : null
}
