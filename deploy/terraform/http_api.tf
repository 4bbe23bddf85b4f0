# An API Gateway HTTP API in front of the alias "live": every method and
# path goes to the function (Lambda proxy, payload format 2.0).
#
# The stage's throttling is set explicitly: a default_route_settings block
# without it gives limits of 0, and the stage then answers 429 to every
# request, which would read as throttling by Lambda. A throttle by Lambda itself comes back as 500
# (stampede --door http_api tells the two apart).

resource "aws_apigatewayv2_api" "http" {
  name          = "${var.deployment}-http"
  description   = "stampede burst demo: HTTP API in front of ${var.function_name}:live"
  protocol_type = "HTTP"
}

resource "aws_apigatewayv2_integration" "live" {
  api_id                 = aws_apigatewayv2_api.http.id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_alias.live.invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 30000
}

resource "aws_apigatewayv2_route" "default" {
  api_id    = aws_apigatewayv2_api.http.id
  route_key = "$default"
  target    = "integrations/${aws_apigatewayv2_integration.live.id}"
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.http.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = var.api_throttle_burst_limit
    throttling_rate_limit  = var.api_throttle_rate_limit
  }
}

resource "aws_lambda_permission" "http_api" {
  statement_id  = "StampedeHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_alias.live.function_name
  qualifier     = aws_lambda_alias.live.name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.http.execution_arn}/*/*"
}
