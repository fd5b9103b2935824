# Per-call memory, in the table shape LangChain's DynamoDBChatMessageHistory uses, so the original
# Python Lambda and `chalkbot lambda` can share it during a migration.
resource "aws_dynamodb_table" "history" {
  name         = "${var.name}-history"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "SessionId"

  attribute {
    name = "SessionId"
    type = "S"
  }

  ttl {
    attribute_name = "expireAt"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }
}
