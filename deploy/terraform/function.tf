# The demo function: the `bootstrap` custom runtime from `make package`,
# its log group and the role it runs with.
#
# publish = true makes every code or configuration change a new numbered
# version, which the alias "live" (alias.tf) follows; provisioned
# concurrency can only be set on a version or an alias, never $LATEST.
# Reserved concurrency is var.reserved_concurrency; -1 is the provider's
# value for "unreserved".

resource "aws_iam_role" "function" {
  name = "${var.deployment}-function"

  assume_role_policy = local.trust_policy["lambda"]
}

resource "aws_iam_role_policy_attachment" "function_logs" {
  role       = aws_iam_role.function.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_cloudwatch_log_group" "function" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = 7
}

resource "aws_lambda_function" "burst" {
  function_name    = var.function_name
  description      = "stampede burst demo (${var.deployment}): holds each request, reports its execution environment"
  role             = aws_iam_role.function.arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["x86_64"]
  filename         = var.function_zip
  source_code_hash = filebase64sha256(var.function_zip)
  memory_size      = 128
  timeout          = 10
  publish          = true

  reserved_concurrent_executions = var.reserved_concurrency

  environment {
    variables = {
      # Each invocation outlasts the burst, so reserved concurrency 5
      # gives exactly 5 successes out of 100 simultaneous requests.
      STAMPEDE_HOLD_MS = "2000"
    }
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.function.name
  }

  depends_on = [
    aws_iam_role_policy_attachment.function_logs,
    aws_cloudwatch_log_group.function,
  ]
}
