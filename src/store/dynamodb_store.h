#pragma once
// The ConversationStore on DynamoDB: each call is one item of the LangChain history table, so a
// call's memory is shared with LangChain code and with `chalkbot lambda`. Turns are History
// messages (user -> human, assistant -> ai; the stage times ride along under data.chalkbot); the
// call record is a few extra attributes (CallFrom, CallTo, CallStartedMs ...) that LangChain
// ignores.
#include <nlohmann/json.hpp>

#include <memory>
#include <optional>

#include "core/config.h"
#include "core/settings.h"
#include "store/conversation_store.h"

namespace chalkbot {

// Reads credentials and region from `env` (see dynamodb.h); fails naming what is missing.
Result<std::unique_ptr<ConversationStore>> open_dynamodb_store(const StoreSettings& settings,
                                                               const EnvLookup& env);

// A History message (LangChain shape) as a turn; nullopt for messages that are not plain text
// turns (system, tool ...).
std::optional<TurnRecord> turn_from_message(const std::string& call_id, int index,
                                            const nlohmann::json& message);
// A turn as a History message (LangChain shape).
nlohmann::json message_from_turn(const TurnRecord& turn);

}  // namespace chalkbot
