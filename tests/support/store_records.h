#pragma once
// Records for store tests.
#include <cstdint>
#include <optional>
#include <string>

#include "store/conversation_store.h"

namespace chalkbot::testing {

inline CallRecord make_call(const std::string& id, std::int64_t started,
                            const std::string& node = "") {
  return {id, "sip:alice@example.com", "sip:bot@example.com", started, std::nullopt, "", node};
}

inline TurnRecord make_turn(const std::string& call_id, const std::string& role,
                            const std::string& text) {
  TurnRecord t;
  t.call_id = call_id;
  t.role = role;
  t.text = text;
  return t;
}

}  // namespace chalkbot::testing
