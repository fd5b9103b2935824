output "ecr_repository_url" {
  description = "Push the Lambda image here (docker build -f deploy/aws/Dockerfile .)"
  value       = aws_ecr_repository.lambda.repository_url
}

output "lambda_function_name" {
  value = aws_lambda_function.chalkbot.function_name
}

output "history_table_name" {
  value = aws_dynamodb_table.history.name
}

output "lex_bot_alias_arn" {
  value = awscc_lex_bot_alias.chalkbot.arn
}

output "connect_instance_id" {
  value = aws_connect_instance.chalkbot.id
}

output "contact_flow_id" {
  value = aws_connect_contact_flow.chalkbot.contact_flow_id
}
