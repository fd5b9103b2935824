#pragma once
// A ConversationStore in front of any backend that keeps calls going while the backend cannot
// write (disk full, read-only file system, a lock held by another process, a database restart).
// Writes are queued in memory and applied in order by one writer thread, as many as are queued in
// one transaction where the backend has them (ConversationStore::max_batch); a write that fails
// stays at the head of the queue and is retried with backoff until it succeeds, so nothing
// accepted is lost while the process lives. health() tells /readyz and metrics whether writes are failing.
//
// A write the backend rejects (Error::rejected: a constraint, bad data) would fail the same way
// forever and hold up every call behind it; it is set aside instead: logged, counted in health(),
// and its record appended to Options::rejected_path (JSON lines) so that nothing is lost.
//
// Durability: with a healthy backend a write is stored within milliseconds of being accepted.
// While the backend fails, pending writes exist in memory only (a kill -9 then loses them); the
// queue is bounded (Options::max_pending) and a refused write is logged, never dropped silently.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>

#include "store/conversation_store.h"

namespace chalkbot {

class BufferedStore final : public ConversationStore {
 public:
  struct Options {
    std::size_t max_pending = 100000;  // writes; a turn is well under 1 KiB
    std::chrono::milliseconds retry_min{100};
    std::chrono::milliseconds retry_max{2000};
    std::chrono::milliseconds read_flush{1000};    // reads wait this long for pending writes
    std::chrono::milliseconds close_flush{10000};  // the destructor's last chance to store
    std::function<void(double seconds)> on_write;  // each stored write's time (metrics)
    std::string rejected_path;  // rejected writes' records, one JSON object per line ('' = none)
  };

  explicit BufferedStore(std::unique_ptr<ConversationStore> backend);
  BufferedStore(std::unique_ptr<ConversationStore> backend, Options options);
  // Stores what is pending (up to Options::close_flush); what still cannot be stored is logged.
  ~BufferedStore() override;
  BufferedStore(const BufferedStore&) = delete;
  BufferedStore& operator=(const BufferedStore&) = delete;

  // Queued: ok unless the queue is full. append_turn returns the index the turn will have (-1
  // when it cannot be known: a call begun elsewhere whose turns cannot be read now).
  Status begin_call(const CallRecord& call) override;
  Status end_call(const std::string& call_id, std::int64_t ended_ms,
                  const std::string& reason) override;
  Result<int> append_turn(const TurnRecord& turn) override;
  Status append_tool_call(const ToolCallRecord& call) override;

  // Read the backend after waiting (up to Options::read_flush) for pending writes.
  Result<std::optional<CallRecord>> call(const std::string& call_id) override;
  Result<std::vector<CallRecord>> recent_calls(int limit) override;
  Result<std::vector<TurnRecord>> turns(const std::string& call_id) override;
  Result<std::vector<ToolCallRecord>> tool_calls(const std::string& call_id) override;
  // Listing for the admin API: straight from the backend (a call just begun may be missing).
  Result<std::vector<CallRecord>> list_calls(int offset, int limit) override {
    return backend_->list_calls(offset, limit);
  }
  Result<std::int64_t> count_calls() override { return backend_->count_calls(); }

  // Caller summaries go straight to the backend (not queued): a forget is done when it returns.
  Status add_summary(const CallerSummary& summary) override {
    return backend_->add_summary(summary);
  }
  Result<std::vector<CallerSummary>> summaries(const std::string& caller, int limit) override {
    return backend_->summaries(caller, limit);
  }
  Result<std::int64_t> forget_caller(const std::string& caller) override {
    return backend_->forget_caller(caller);
  }
  Result<std::int64_t> erase_summaries_before(std::int64_t cutoff_ms) override {
    return backend_->erase_summaries_before(cutoff_ms);
  }

  StoreHealth health() const override;

  // Waits until every accepted write is stored; false when `timeout` passed first.
  bool flush(std::chrono::milliseconds timeout);

 private:
  struct Pending {
    std::string what;    // for messages: "turn 3 of call X"
    StoreWrite record;   // written by the writer thread; turned into JSON only if rejected
  };

  Status enqueue(std::string what, StoreWrite record);
  void writer_loop();
  void set_aside(const Pending& rejected, const Error& why);

  std::unique_ptr<ConversationStore> backend_;
  const Options options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;     // the writer: new work or stop
  std::condition_variable drained_;  // flush(): the queue got shorter
  std::deque<Pending> queue_;
  std::map<std::string, int> next_index_;  // calls begun here: the next turn's index
  bool writable_ = true;
  std::string last_error_;
  std::size_t dropped_ = 0;
  std::size_t rejected_ = 0;
  bool stopping_ = false;
  std::thread writer_;  // last: started once everything above exists
};

}  // namespace chalkbot
