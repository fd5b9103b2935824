# The Lex V2 bot transcribes the caller and hands every utterance to the Lambda: its only intents
# are a greeting catch-all and the built-in FallbackIntent, both with the code hook on, so the
# LLM (not Lex's NLU) decides what to say.
resource "aws_iam_role" "lex" {
  name               = "${var.name}-lex"
  assume_role_policy = data.aws_iam_policy_document.assume["lex"].json
}

data "aws_iam_policy_document" "lex_polly" {
  statement {
    actions   = ["polly:SynthesizeSpeech"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "lex_polly" {
  name   = "${var.name}-lex-polly"
  role   = aws_iam_role.lex.id
  policy = data.aws_iam_policy_document.lex_polly.json
}

locals {
  lex_locale = "en_US"
  # Lex V2 calls the Lambda with the Lex V2 event format, interface version 1.0.
  lambda_code_hook = {
    enabled = true
    code_hook_specification = {
      lambda_code_hook = {
        lambda_arn                  = aws_lambda_function.chalkbot.arn
        code_hook_interface_version = "1.0"
      }
    }
  }
}

resource "awscc_lex_bot" "chalkbot" {
  name                        = "${var.name}-bot"
  role_arn                    = aws_iam_role.lex.arn
  idle_session_ttl_in_seconds = 300
  auto_build_bot_locales      = true
  data_privacy = {
    child_directed = false
  }

  bot_locales = [{
    locale_id                = local.lex_locale
    nlu_confidence_threshold = 0.4
    voice_settings = {
      voice_id = "Joanna"
    }
    intents = [
      {
        # Lex needs one intent with utterances; it answers through the same code hook.
        name              = "Chat"
        sample_utterances = [{ utterance = "hello" }, { utterance = "hi there" }]
        dialog_code_hook = {
          enabled = true
        }
        fulfillment_code_hook = {
          enabled = true
        }
      },
      {
        name                    = "FallbackIntent"
        parent_intent_signature = "AMAZON.FallbackIntent"
        dialog_code_hook = {
          enabled = true
        }
        fulfillment_code_hook = {
          enabled = true
        }
      },
    ]
  }]

  test_bot_alias_settings = {
    bot_alias_locale_settings = [{
      locale_id                = local.lex_locale
      bot_alias_locale_setting = local.lambda_code_hook
    }]
  }
}

resource "awscc_lex_bot_version" "chalkbot" {
  bot_id = awscc_lex_bot.chalkbot.id
  bot_version_locale_specification = [{
    locale_id = local.lex_locale
    bot_version_locale_details = {
      source_bot_version = "DRAFT"
    }
  }]
}

resource "awscc_lex_bot_alias" "chalkbot" {
  bot_id         = awscc_lex_bot.chalkbot.id
  bot_alias_name = "live"
  bot_version    = awscc_lex_bot_version.chalkbot.bot_version
  bot_alias_locale_settings = [{
    locale_id                = local.lex_locale
    bot_alias_locale_setting = local.lambda_code_hook
  }]
}
