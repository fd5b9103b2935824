#pragma once
// Amazon Lex V2 code-hook events in, Lex V2 responses out (the Lambda input and response formats
// AWS documents for Lex V2). Every event gets a valid response: a malformed event, a model
// failure or a store failure is answered with a spoken apology and the conversation goes on.
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "agent/call_flow.h"
#include "core/result.h"
#include "core/settings.h"
#include "llm/chat_model.h"
#include "store/conversation_store.h"

namespace chalkbot {

struct LexEvent {
  std::string session_id;
  std::string transcript;   // inputTranscript: what the caller said ('' on no input)
  std::string intent_name;  // sessionState.intent.name ('' when absent)
  nlohmann::json session_attributes = nlohmann::json::object();  // echoed back unchanged
};

// Reads the fields we use; unknown fields are ignored. Fails on non-JSON, a non-object, or a
// missing/empty sessionId.
Result<LexEvent> parse_lex_event(std::string_view body);

enum class LexDialog {
  kElicitIntent,  // keep the caller talking: Lex listens for the next utterance
  kClose,         // the conversation is over (the intent is Fulfilled)
};

// A Lex V2 response saying `message` as PlainText.
nlohmann::json lex_response(const LexEvent& event, LexDialog dialog, const std::string& message);

// How a turn went, for logs and tests.
enum class LexOutcome {
  kAnswered,
  kGoodbye,
  kReprompt,
  kMalformedEvent,
  kModelFailed,
  kStoreFailed
};
std::string_view to_string(LexOutcome outcome);

struct LexTurn {
  nlohmann::json response;
  LexOutcome outcome = LexOutcome::kAnswered;
};

// One Lex code-hook invocation: the session's history from the store, the model asked with the
// phone prompt (the same Conversation as phone calls), both turns stored. Thread-compatible: the
// Lambda runtime calls it from one thread.
class LexHandler {
 public:
  LexHandler(ChatModel& model, ConversationStore& store, const Settings& settings, CallFlow flow);

  LexTurn handle(std::string_view event_body);

 private:
  ChatModel& model_;
  ConversationStore& store_;
  const Settings& settings_;
  CallFlow flow_;
};

}  // namespace chalkbot
