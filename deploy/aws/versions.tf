# The original AWS shape of Chalkbot: Amazon Connect answers the call, a Lex V2 bot transcribes
# and calls the Lambda (`chalkbot lambda`, a C++ custom runtime in a container image), which asks
# the LLM with per-call memory in DynamoDB (LangChain's DynamoDBChatMessageHistory table shape).
#
# NOT DEPLOYED: written without access to AWS. Only parsing and internal consistency are tested
# (tests/integration/test_aws_terraform.sh). See README.md, section "AWS".
terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
    # The Lex V2 bot, its version and alias, and Connect's Lex integration come from the Cloud
    # Control provider: the aws provider has no Lex V2 alias resource with a Lambda code hook.
    awscc = {
      source  = "hashicorp/awscc"
      version = "~> 1.10"
    }
  }
}

provider "aws" {
  region = var.region
}

provider "awscc" {
  region = var.region
}

data "aws_caller_identity" "current" {}
