# Amazon Connect answers the phone and runs the contact flow: greeting, the Lex conversation in a
# loop, goodbye, disconnect (contact-flow.json.tftpl; `chalkbot flow import` reads the same file).
# Claiming a phone number and pointing it at the flow is left to the console (it costs money and
# depends on the country).
resource "aws_connect_instance" "chalkbot" {
  identity_management_type = "CONNECT_MANAGED"
  inbound_calls_enabled    = true
  outbound_calls_enabled   = false
  instance_alias           = var.connect_instance_alias
}

# Lets the instance use the bot alias in flows.
resource "awscc_connect_integration_association" "lex" {
  instance_id      = aws_connect_instance.chalkbot.arn
  integration_type = "LEX_BOT"
  integration_arn  = awscc_lex_bot_alias.chalkbot.arn
}

resource "aws_connect_contact_flow" "chalkbot" {
  instance_id = aws_connect_instance.chalkbot.id
  name        = "${var.name}-inbound"
  description = "Greeting, Lex V2 conversation (Chalkbot Lambda) in a loop, goodbye"
  type        = "CONTACT_FLOW"
  content = templatefile("${path.module}/contact-flow.json.tftpl", {
    lex_bot_alias_arn = awscc_lex_bot_alias.chalkbot.arn
  })

  depends_on = [awscc_connect_integration_association.lex]
}
