#include <climits>

#include "store/conversation_store.h"

namespace chalkbot {

Result<std::vector<CallRecord>> ConversationStore::list_calls(int offset, int limit) {
  if (offset < 0 || limit < 0) return make_error("list_calls: negative offset or limit");
  auto all = recent_calls(offset > INT_MAX - limit ? INT_MAX : offset + limit);
  if (!all) return all.error();
  std::vector<CallRecord> page;
  for (std::size_t i = static_cast<std::size_t>(offset); i < all->size(); ++i) {
    page.push_back(std::move((*all)[i]));
  }
  return page;
}

Result<std::int64_t> ConversationStore::count_calls() {
  auto all = recent_calls(INT_MAX);
  if (!all) return all.error();
  return static_cast<std::int64_t>(all->size());
}

}  // namespace chalkbot
