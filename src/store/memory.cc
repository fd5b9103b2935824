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

}  // namespace chalkbot
