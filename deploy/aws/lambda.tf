# The Lex V2 code hook: `chalkbot lambda` in a container image (Dockerfile beside this file).
resource "aws_ecr_repository" "lambda" {
  name                 = "${var.name}-lambda"
  image_tag_mutability = "MUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }
}

# Who may assume each role: the Lambda service and Lex V2.
data "aws_iam_policy_document" "assume" {
  for_each = {
    lambda = "lambda.amazonaws.com"
    lex    = "lexv2.amazonaws.com"
  }
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [each.value]
    }
  }
}

resource "aws_iam_role" "lambda" {
  name               = "${var.name}-lambda"
  assume_role_policy = data.aws_iam_policy_document.assume["lambda"].json
}

resource "aws_iam_role_policy_attachment" "lambda_logs" {
  role       = aws_iam_role.lambda.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

# Exactly what the history store calls: GetItem and conditional UpdateItem per turn, PutItem for
# LangChain-written sessions, Scan only for `chalkbot calls` against this table.
data "aws_iam_policy_document" "lambda_history" {
  statement {
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:Scan"]
    resources = [aws_dynamodb_table.history.arn]
  }
}

resource "aws_iam_role_policy" "lambda_history" {
  name   = "${var.name}-history"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda_history.json
}

resource "aws_lambda_function" "chalkbot" {
  function_name = "${var.name}-lex-hook"
  role          = aws_iam_role.lambda.arn
  package_type  = "Image"
  image_uri     = "${aws_ecr_repository.lambda.repository_url}:${var.image_tag}"
  architectures = ["x86_64"]
  memory_size   = 256
  # Lex waits at most 30 s for a code hook; the model's own timeouts are shorter.
  timeout = 25

  environment {
    variables = {
      OPENAI_API_KEY                        = var.openai_api_key
      CHALKBOT_LLM_MODEL                    = var.llm_model
      CHALKBOT_LLM_TOTAL_TIMEOUT_MS         = "20000"
      CHALKBOT_STORE_BACKEND                = "dynamodb"
      CHALKBOT_STORE_DYNAMODB_TABLE         = aws_dynamodb_table.history.name
      CHALKBOT_STORE_DYNAMODB_TTL_S         = tostring(var.history_ttl_days * 86400)
      CHALKBOT_STORE_DYNAMODB_TTL_ATTRIBUTE = "expireAt"
      CHALKBOT_LOG_LEVEL                    = "info"
    }
  }

  depends_on = [aws_iam_role_policy_attachment.lambda_logs, aws_iam_role_policy.lambda_history]
}

resource "aws_lambda_permission" "lex" {
  statement_id  = "AllowLexV2"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.chalkbot.function_name
  principal     = "lexv2.amazonaws.com"
  source_arn    = "arn:aws:lex:${var.region}:${data.aws_caller_identity.current.account_id}:bot-alias/${awscc_lex_bot.chalkbot.id}/*"
}
