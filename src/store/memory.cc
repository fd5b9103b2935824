#include <cstddef>

#include "store/conversation_store.h"

namespace chalkbot {

std::vector<ChatMessage> memory_from_turns(const std::vector<TurnRecord>& turns,
                                           std::size_t budget_chars) {
  // Walk from the newest turn back, keeping turns while they fit; then restore call order.
  std::vector<ChatMessage> kept;
  std::size_t used = 0;
  for (auto it = turns.rbegin(); it != turns.rend(); ++it) {
    if (it->role != "user" && it->role != "assistant") continue;
    if (it->text.empty()) continue;  // e.g. an answer interrupted before any word was spoken
    if (!kept.empty() && used + it->text.size() > budget_chars) break;
    used += it->text.size();
    kept.push_back(ChatMessage{it->role, it->text});
  }
  return {kept.rbegin(), kept.rend()};
}

Result<int> close_unended_calls(ConversationStore& store, std::int64_t now_ms,
                                const std::string& reason) {
  constexpr int kLookBack = 10000;  // calls, newest first: far more than one run leaves open
  auto calls = store.recent_calls(kLookBack);
  if (!calls) return calls.error();
  int closed = 0;
  for (const auto& call : *calls) {
    if (call.ended_ms || call.from.starts_with("cli:")) continue;
    if (auto ended = store.end_call(call.id, now_ms, reason); !ended) return ended.error();
    ++closed;
  }
  return closed;
}

}  // namespace chalkbot
