#pragma once
// A ConversationStore that times every write into chalkbot_store_write_seconds and passes
// everything through to the real store. Thread-safe as the store it wraps.
#include <chrono>
#include <type_traits>

#include "server/metrics.h"
#include "store/conversation_store.h"

namespace chalkbot {

class TimedStore final : public ConversationStore {
 public:
  TimedStore(ConversationStore& store, Histogram& write_seconds)
      : store_(store), write_seconds_(write_seconds) {}

  Status begin_call(const CallRecord& call) override {
    return timed([&] { return store_.begin_call(call); });
  }
  Status end_call(const std::string& call_id, std::int64_t ended_ms,
                  const std::string& reason) override {
    return timed([&] { return store_.end_call(call_id, ended_ms, reason); });
  }
  Result<int> append_turn(const TurnRecord& turn) override {
    return timed([&] { return store_.append_turn(turn); });
  }

  Result<std::optional<CallRecord>> call(const std::string& call_id) override {
    return store_.call(call_id);
  }
  Result<std::vector<CallRecord>> recent_calls(int limit) override {
    return store_.recent_calls(limit);
  }
  Result<std::vector<TurnRecord>> turns(const std::string& call_id) override {
    return store_.turns(call_id);
  }
  Result<std::vector<CallRecord>> list_calls(int offset, int limit) override {
    return store_.list_calls(offset, limit);
  }
  Result<std::int64_t> count_calls() override { return store_.count_calls(); }

 private:
  template <class Write>
  std::invoke_result_t<Write> timed(Write write) {
    const auto start = std::chrono::steady_clock::now();
    auto result = write();
    write_seconds_.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return result;
  }

  ConversationStore& store_;
  Histogram& write_seconds_;
};

}  // namespace chalkbot
