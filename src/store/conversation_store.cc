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

Status ConversationStore::write_batch(std::span<const StoreWrite> writes) {
  if (writes.size() != 1) return make_error("store: this backend stores one write at a time");
  const StoreWrite& write = writes.front();
  if (const auto* call = std::get_if<CallRecord>(&write)) return begin_call(*call);
  if (const auto* end = std::get_if<CallEnd>(&write)) {
    return end_call(end->call_id, end->ended_ms, end->reason);
  }
  if (const auto* tool = std::get_if<ToolCallRecord>(&write)) return append_tool_call(*tool);
  // The backend numbers the turn itself (the index BufferedStore promised, unless another writer
  // added turns meanwhile).
  auto stored = append_turn(std::get<TurnRecord>(write));
  if (!stored) return stored.error();
  return {};
}

Status ConversationStore::append_tool_call(const ToolCallRecord& call) {
  return make_error("store: this store keeps no tool calls (call " + call.call_id + ")");
}

Result<std::vector<ToolCallRecord>> ConversationStore::tool_calls(const std::string&) {
  return std::vector<ToolCallRecord>{};
}

Result<std::int64_t> ConversationStore::count_calls() {
  auto all = recent_calls(INT_MAX);
  if (!all) return all.error();
  return static_cast<std::int64_t>(all->size());
}

namespace {
Error no_caller_memory() { return make_error("store: this backend keeps no caller summaries"); }
}  // namespace

Status ConversationStore::add_summary(const CallerSummary&) { return no_caller_memory(); }
Result<std::vector<CallerSummary>> ConversationStore::summaries(const std::string&, int) {
  return no_caller_memory();
}
Result<std::int64_t> ConversationStore::forget_caller(const std::string&) {
  return no_caller_memory();
}
Result<std::int64_t> ConversationStore::erase_summaries_before(std::int64_t) {
  return no_caller_memory();
}

}  // namespace chalkbot
