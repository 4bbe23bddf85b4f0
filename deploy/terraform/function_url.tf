# A public Function URL on the alias "live".
#
# Since October 2025 a Function URL with auth type NONE answers 403 unless
# the function's policy allows both lambda:InvokeFunctionUrl (condition
# FunctionUrlAuthType NONE) and lambda:InvokeFunction (condition
# InvokedViaFunctionUrl true, which limits that grant to URL requests).
# Both are declared here, on the alias the URL serves.

resource "aws_lambda_function_url" "live" {
  function_name      = aws_lambda_alias.live.function_name
  qualifier          = aws_lambda_alias.live.name
  authorization_type = "NONE"
}

resource "aws_lambda_permission" "url_invoke_function_url" {
  statement_id           = "StampedeFunctionUrlPublic"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_alias.live.function_name
  qualifier              = aws_lambda_alias.live.name
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_lambda_permission" "url_invoke_function" {
  statement_id             = "StampedeFunctionUrlInvoke"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_alias.live.function_name
  qualifier                = aws_lambda_alias.live.name
  principal                = "*"
  invoked_via_function_url = true
}
