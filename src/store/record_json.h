#pragma once
// The store's records as JSON: the admin API's answers and the rejected-writes file use one shape.
#include <nlohmann/json.hpp>

#include "store/conversation_store.h"

namespace chalkbot {

// node: which Chalkbot node holds (or held) the call, when several share one store.
nlohmann::json call_json(const CallRecord& call);
// Each stage's wall-clock millisecond, or null when the turn never reached it.
nlohmann::json times_json(const StageTimes& times);
nlohmann::json turn_json(const TurnRecord& turn);
// arguments and result as the JSON they hold (as text when they are not JSON).
nlohmann::json tool_call_json(const ToolCallRecord& call);

}  // namespace chalkbot
