#pragma once
// Every call and every turn, durable at each completed turn. Turns are append-only.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "core/result.h"
#include "llm/chat_model.h"

namespace chalkbot {

struct StoreSettings;

struct CallRecord {
  std::string id;
  std::string from;
  std::string to;
  std::int64_t started_ms = 0;  // wall clock, ms since the Unix epoch
  std::optional<std::int64_t> ended_ms;
  std::string end_reason;  // empty while the call is live
  std::string node;        // cluster.node_id of the node that took the call ('' before v3)
};

// When each stage of a turn happened (wall clock ms); absent when the stage did not happen.
struct StageTimes {
  std::optional<std::int64_t> speech_start;
  std::optional<std::int64_t> speech_end;
  std::optional<std::int64_t> endpoint;
  std::optional<std::int64_t> asr_done;
  std::optional<std::int64_t> llm_first_token;
  std::optional<std::int64_t> first_sentence;
  std::optional<std::int64_t> tts_first_audio;
  std::optional<std::int64_t> first_rtp_out;
  std::optional<std::int64_t> done;
};

struct TurnRecord {
  std::string call_id;
  int index = 0;       // 0, 1, 2 ... within the call; assigned by the store when appended
  std::string role;    // "user" or "assistant"
  std::string text;
  bool interrupted = false;  // the caller barged in before the answer finished
  StageTimes times;
};

// One tool the model called during a call: its arguments, what came back, how long it took.
struct ToolCallRecord {
  std::string call_id;
  int index = 0;  // 0, 1, 2 ... within the call; assigned by the store when appended
  std::string name;
  std::string arguments;  // JSON text, as the model sent it
  std::string result;     // what the model got back (JSON text; {"error": ...} when not ok)
  bool ok = false;
  std::int64_t started_ms = 0;  // wall clock
  std::int64_t duration_ms = 0;
};

// What the model wrote about one ended call, kept under the caller's identity so that the
// caller's next call can start from it (memory.across_calls).
struct CallerSummary {
  std::string caller;   // caller_identity() of the call's From
  std::string call_id;
  std::int64_t created_ms = 0;  // wall clock, ms since the Unix epoch
  std::string text;
};

// Whether the store is taking writes, for /readyz and metrics.
struct StoreHealth {
  bool writable = true;            // false while writes are failing (they are retried)
  std::size_t pending_writes = 0;  // accepted but not stored yet (in memory only)
  std::size_t dropped_writes = 0;  // refused because too many were pending (each one logged)
  std::size_t rejected_writes = 0;  // refused by the backend itself, set aside (each one logged)
  std::string last_error;          // why writes fail, while they do
};

// A call's end, as a write of its own.
struct CallEnd {
  std::string call_id;
  std::int64_t ended_ms = 0;
  std::string reason;
};
// One write: BufferedStore queues these and hands them to the backend in batches.
using StoreWrite = std::variant<CallRecord, CallEnd, TurnRecord, ToolCallRecord>;

// Thread-safe.
class ConversationStore {
 public:
  virtual ~ConversationStore() = default;
  // A backend that writes synchronously reports healthy: its errors come back from each call.
  virtual StoreHealth health() const { return {}; }
  virtual Status begin_call(const CallRecord& call) = 0;
  virtual Status end_call(const std::string& call_id, std::int64_t ended_ms,
                          const std::string& reason) = 0;
  // Durable when it returns ok (committed). Returns the turn's index within the call.
  virtual Result<int> append_turn(const TurnRecord& turn) = 0;
  // The same for a tool call (its index is the store's to assign). Every backend keeps them;
  // the default (for stand-ins in tests and replays) refuses.
  virtual Status append_tool_call(const ToolCallRecord& call);

  // How many writes write_batch() takes at once: 1 unless the backend has transactions.
  virtual std::size_t max_batch() const { return 1; }
  // Stores `writes` in order, all or (on an error) none: one transaction. The default has no
  // transaction and takes one write.
  virtual Status write_batch(std::span<const StoreWrite> writes);

  virtual Result<std::optional<CallRecord>> call(const std::string& call_id) = 0;
  virtual Result<std::vector<CallRecord>> recent_calls(int limit) = 0;
  virtual Result<std::vector<TurnRecord>> turns(const std::string& call_id) = 0;
  // The call's tool calls in the order they were stored (the default: none).
  virtual Result<std::vector<ToolCallRecord>> tool_calls(const std::string& call_id);

  // A page of calls, newest first (the admin API's call list). The defaults read everything
  // through recent_calls(); backends override them with real paging.
  virtual Result<std::vector<CallRecord>> list_calls(int offset, int limit);
  virtual Result<std::int64_t> count_calls();

  // Caller summaries (memory across calls). Written and erased at once, never through a write
  // queue, so that a forgotten caller is forgotten when forget_caller() returns. The defaults
  // fail: a backend without them keeps no memory across calls.
  virtual Status add_summary(const CallerSummary& summary);
  // The caller's newest `limit` summaries, oldest first.
  virtual Result<std::vector<CallerSummary>> summaries(const std::string& caller, int limit);
  // Erases every summary of `caller`; returns how many there were.
  virtual Result<std::int64_t> forget_caller(const std::string& caller);
  // Erases every summary created before `cutoff_ms` (retention); returns how many there were.
  virtual Result<std::int64_t> erase_summaries_before(std::int64_t cutoff_ms);
};

Result<std::unique_ptr<ConversationStore>> make_store(const StoreSettings& settings);

// Closes, with `reason`, the phone calls a previous run left without an end (it was killed or
// crashed mid-call); CLI sessions (from "cli:...") stay open. Returns how many were closed. Only
// for a store one server owns: on a store shared by several nodes it would close their calls.
Result<int> close_unended_calls(ConversationStore& store, std::int64_t now_ms,
                                const std::string& reason);

// The call's memory for the model: its turns as chat messages, oldest dropped first so the total
// text stays within `budget_chars` (the newest turn is always kept).
std::vector<ChatMessage> memory_from_turns(const std::vector<TurnRecord>& turns,
                                           std::size_t budget_chars);

}  // namespace chalkbot
