#include "aws/lex.h"

#include "agent/conversation.h"
#include "core/log.h"

namespace chalkbot {
namespace {

using nlohmann::json;

// The event's string at `path` (object keys), '' when absent or not a string.
std::string string_at(const json& event, std::initializer_list<const char*> path) {
  const json* node = &event;
  for (const char* key : path) {
    if (!node->is_object()) return "";
    const auto next = node->find(key);
    if (next == node->end()) return "";
    node = &*next;
  }
  return node->is_string() ? node->get<std::string>() : "";
}

}  // namespace

Result<LexEvent> parse_lex_event(std::string_view body) {
  const json event = json::parse(body, nullptr, false);
  if (event.is_discarded()) return make_error("Lex event: not JSON");
  if (!event.is_object()) return make_error("Lex event: not a JSON object");
  LexEvent parsed;
  parsed.session_id = string_at(event, {"sessionId"});
  if (parsed.session_id.empty()) return make_error("Lex event: no sessionId");
  parsed.transcript = string_at(event, {"inputTranscript"});
  parsed.intent_name = string_at(event, {"sessionState", "intent", "name"});
  if (event.contains("sessionState") && event["sessionState"].is_object()) {
    const auto attributes = event["sessionState"].find("sessionAttributes");
    if (attributes != event["sessionState"].end() && attributes->is_object()) {
      parsed.session_attributes = *attributes;
    }
  }
  return parsed;
}

json lex_response(const LexEvent& event, LexDialog dialog, const std::string& message) {
  json state{{"sessionAttributes", event.session_attributes}};
  if (dialog == LexDialog::kClose) {
    state["dialogAction"] = {{"type", "Close"}};
    // Close needs the intent and how it ended.
    state["intent"] = {{"name", event.intent_name.empty() ? "FallbackIntent" : event.intent_name},
                       {"state", "Fulfilled"}};
  } else {
    state["dialogAction"] = {{"type", "ElicitIntent"}};
  }
  return {{"sessionState", std::move(state)},
          {"messages", json::array({{{"contentType", "PlainText"}, {"content", message}}})}};
}

std::string_view to_string(LexOutcome outcome) {
  switch (outcome) {
    case LexOutcome::kAnswered:
      return "answered";
    case LexOutcome::kGoodbye:
      return "goodbye";
    case LexOutcome::kReprompt:
      return "reprompt";
    case LexOutcome::kMalformedEvent:
      return "malformed_event";
    case LexOutcome::kModelFailed:
      return "model_failed";
    case LexOutcome::kStoreFailed:
      return "store_failed";
  }
  return "unknown";
}

LexHandler::LexHandler(ChatModel& model, ConversationStore& store, const Settings& settings,
                       CallFlow flow)
    : model_(model), store_(store), settings_(settings), flow_(std::move(flow)) {}

LexTurn LexHandler::handle(std::string_view event_body) {
  auto event = parse_lex_event(event_body);
  if (!event) {
    spdlog::warn("lambda: {}", event.error().message);
    return {lex_response(LexEvent{}, LexDialog::kElicitIntent, kApology),
            LexOutcome::kMalformedEvent};
  }
  if (event->transcript.empty()) {
    return {lex_response(*event, LexDialog::kElicitIntent, settings_.flow.reprompt),
            LexOutcome::kReprompt};
  }
  if (flow_.is_goodbye(event->transcript)) {
    // Kept in the history so the session reads like the call it was.
    for (const auto& [role, text] : {std::pair<std::string, std::string>{"user", event->transcript},
                                     {"assistant", settings_.flow.farewell}}) {
      if (auto stored = store_.append_turn(TurnRecord{event->session_id, 0, role, text, false, {}});
          !stored) {
        spdlog::warn("lambda: session {}: {}", event->session_id, stored.error().message);
      }
    }
    return {lex_response(*event, LexDialog::kClose, settings_.flow.farewell), LexOutcome::kGoodbye};
  }
  Conversation conversation(model_, store_, settings_, event->session_id);
  StageTimes times;
  auto answer = conversation.answer(event->transcript, times, {}, CancelToken{});
  if (!answer) {
    spdlog::warn("lambda: session {}: {}", event->session_id, answer.error().message);
    return {lex_response(*event, LexDialog::kElicitIntent, kApology), LexOutcome::kStoreFailed};
  }
  const std::string& text = answer->text.empty() ? settings_.flow.reprompt : answer->text;
  return {lex_response(*event, LexDialog::kElicitIntent, text),
          answer->model_failed ? LexOutcome::kModelFailed : LexOutcome::kAnswered};
}

}  // namespace chalkbot
