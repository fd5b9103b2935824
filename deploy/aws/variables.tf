variable "region" {
  description = "AWS region for everything (Connect and Lex V2 must both be available there)"
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Prefix of every resource name"
  type        = string
  default     = "chalkbot"
}

variable "image_tag" {
  description = "Tag of the Lambda image pushed to the ECR repository (see README: AWS)"
  type        = string
  default     = "latest"
}

variable "openai_api_key" {
  description = "OpenAI API key for the Lambda (kept in the Lambda's environment)"
  type        = string
  sensitive   = true
}

variable "llm_model" {
  description = "Chat model the Lambda asks"
  type        = string
  default     = "gpt-4o-mini"
}

variable "history_ttl_days" {
  description = "Conversation history expires this many days after its last turn"
  type        = number
  default     = 30
}

variable "connect_instance_alias" {
  description = "Amazon Connect instance alias (globally unique)"
  type        = string
  default     = "chalkbot-demo"
}
