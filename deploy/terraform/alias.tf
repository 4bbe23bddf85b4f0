# The alias "live" on the version the function published last, and the
# provisioned concurrency on it (only when var.provisioned_concurrency > 0).
#
# Every front door invokes the alias, so a request is served by the
# provisioned environments first and spills over to on-demand ones.
# Changing provisioned_concurrency replaces the config; AWS then
# initialises the environments again (status IN_PROGRESS, then READY).

resource "aws_lambda_alias" "live" {
  name             = "live"
  description      = "The version every front door invokes"
  function_name    = aws_lambda_function.burst.function_name
  function_version = aws_lambda_function.burst.version
}

resource "aws_lambda_provisioned_concurrency_config" "live" {
  count = var.provisioned_concurrency > 0 ? 1 : 0

  function_name                     = aws_lambda_alias.live.function_name
  qualifier                         = aws_lambda_alias.live.name
  provisioned_concurrent_executions = var.provisioned_concurrency

  lifecycle {
    precondition {
      condition     = var.reserved_concurrency == -1 || var.provisioned_concurrency <= var.reserved_concurrency
      error_message = "provisioned_concurrency cannot exceed reserved_concurrency: provisioned environments count against the function's reserved concurrency."
    }
  }
}
