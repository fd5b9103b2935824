#pragma once
// Memory across calls (memory.across_calls): after a call the model summarises it and the summary
// is stored under the caller's identity; the caller's next call starts with the latest summaries
// in a system message. All store and model work runs on the memory service's own threads, never
// on a call's thread: a call asks and goes on, and what it asked for arrives when it is ready.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/result.h"
#include "core/settings.h"
#include "core/work_pool.h"
#include "llm/chat_model.h"
#include "store/conversation_store.h"

namespace chalkbot {

// Who calls, as memory knows them: the user part of a SIP or tel URI ("sip:+15551234@pbx;
// user=phone" -> "+15551234", "Alice <sip:alice@example.com>" -> "alice"), a Twilio caller number
// as it is. A phone number loses its visual separators ("+1 (555) 123-4567" -> "+15551234567").
// '' when the call has no caller identity (anonymous, a SIP URI without a user, a socket peer
// address, a CLI session): such calls are neither remembered nor given memory.
std::string caller_identity(std::string_view from);

// The system message that carries the caller's earlier calls to the model ('' when there are
// none). `summaries` oldest first, as ConversationStore::summaries returns them.
std::string memory_system_message(const std::vector<CallerSummary>& summaries);

// The request that asks the model to summarise a call: `prompt` as the system message and the
// call's turns as one transcript. nullopt when the caller said nothing (no summary is written).
std::optional<std::vector<ChatMessage>> summary_request(const std::string& prompt,
                                                        const std::vector<TurnRecord>& turns);

// What one call knows of its caller's earlier calls. Written by the memory service, read by the
// call's conversation for each request. Thread-safe.
class CallerContext {
 public:
  void set(std::string system_message);
  std::string get() const;

 private:
  mutable std::mutex mutex_;
  std::string system_message_;
};

// Thread-safe. The store and the model must outlive it. Destruction waits for the jobs already
// posted (a summary being written is finished, so a drained server loses none).
class CallerMemory {
 public:
  using Done = std::function<void(Result<std::int64_t> erased)>;

  CallerMemory(ChatModel& model, ConversationStore& store, const MemorySettings& settings);
  ~CallerMemory();
  CallerMemory(const CallerMemory&) = delete;
  CallerMemory& operator=(const CallerMemory&) = delete;

  bool enabled() const { return settings_.across_calls; }

  // Each returns at once; '' callers are ignored. Loads the caller's latest summaries into
  // `context`.
  void recall(const std::string& caller, std::shared_ptr<CallerContext> context);
  // Summarises the call (ended at `ended_ms`) and stores the summary under the caller, unless the
  // caller was forgotten since the call ended or the caller said nothing.
  void summarise(const std::string& caller, const std::string& call_id, std::int64_t ended_ms,
                 std::vector<TurnRecord> turns);
  // Erases every summary of the caller, in the store and of calls still being summarised.
  // `done` (may be empty) runs on the memory thread with the count erased or the error.
  void forget(const std::string& caller, Done done = {});
  // The same, waiting for the erasure (an admin request): the count erased or the error.
  Result<std::int64_t> forget_and_wait(const std::string& caller);
  // Erases the summaries older than memory.retention_days now, then once a day.
  void start_retention();

  // For tests: waits until every job posted so far has run.
  void flush();

 private:
  Result<std::int64_t> forget_now(const std::string& caller);
  void store_summary(const CallerSummary& summary, std::int64_t call_ended_ms);
  void expire();

  ChatModel& model_;
  ConversationStore& store_;
  const MemorySettings settings_;

  std::mutex forget_mutex_;  // held across "forgotten since?" + add, and across erase + record
  std::map<std::string, std::int64_t> forgotten_ms_;  // caller -> when this process forgot them

  std::mutex retention_mutex_;
  std::condition_variable retention_wake_;
  bool stopping_ = false;
  std::thread retention_;  // wakes daily to post expire()

  // Reads and erasures on one thread, summaries (which wait for the model) on another, so a slow
  // model never holds up a call's memory or a forget.
  WorkPool summaries_{1, "memory-write"};
  WorkPool quick_{1, "memory"};  // last: its jobs stop first
};

}  // namespace chalkbot
