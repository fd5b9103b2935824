#include "store/buffered_store.h"

#include <pthread.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <utility>

#include "core/clock.h"
#include "core/log.h"
#include "store/record_json.h"

namespace chalkbot {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

BufferedStore::BufferedStore(std::unique_ptr<ConversationStore> backend)
    : BufferedStore(std::move(backend), Options{}) {}

BufferedStore::BufferedStore(std::unique_ptr<ConversationStore> backend, Options options)
    : backend_(std::move(backend)), options_(options), writer_([this] { writer_loop(); }) {}

BufferedStore::~BufferedStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  writer_.join();
  if (!queue_.empty()) {
    spdlog::error("store: {} writes could not be stored before exit and are lost ({}); first: {}",
                  queue_.size(), last_error_, queue_.front().what);
  }
}

Status BufferedStore::enqueue(std::string what, StoreWrite record) {
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= options_.max_pending) {
      ++dropped_;
      spdlog::error("store: {} writes pending, {} refused: {}", queue_.size(), what, last_error_);
      return make_error("store: too many writes pending (" + last_error_ + "); " + what +
                        " not stored");
    }
    queue_.push_back(Pending{std::move(what), std::move(record)});
  }
  wake_.notify_all();
  return {};
}

Status BufferedStore::begin_call(const CallRecord& call) {
  {
    std::lock_guard lock(mutex_);
    next_index_[call.id] = 0;
  }
  return enqueue("call " + call.id, call);
}

Status BufferedStore::end_call(const std::string& call_id, std::int64_t ended_ms,
                               const std::string& reason) {
  {
    std::lock_guard lock(mutex_);
    next_index_.erase(call_id);
  }
  return enqueue("end of call " + call_id, CallEnd{call_id, ended_ms, reason});
}

Result<int> BufferedStore::append_turn(const TurnRecord& turn) {
  int index = -1;
  bool known = false;
  {
    std::lock_guard lock(mutex_);
    if (auto it = next_index_.find(turn.call_id); it != next_index_.end()) {
      index = it->second++;
      known = true;
    }
  }
  if (!known) {
    // A call begun by another process or run (a continued CLI session): count its turns once.
    if (auto earlier = turns(turn.call_id); earlier) {
      std::lock_guard lock(mutex_);
      auto [it, inserted] = next_index_.emplace(turn.call_id, static_cast<int>(earlier->size()));
      index = it->second++;
    }
  }
  TurnRecord numbered = turn;
  numbered.index = index;
  auto status = enqueue("turn " + std::to_string(index) + " of call " + turn.call_id,
                        std::move(numbered));
  if (!status) return status.error();
  return index;
}

Result<std::optional<CallRecord>> BufferedStore::call(const std::string& call_id) {
  flush(options_.read_flush);
  return backend_->call(call_id);
}

Result<std::vector<CallRecord>> BufferedStore::recent_calls(int limit) {
  flush(options_.read_flush);
  return backend_->recent_calls(limit);
}

Result<std::vector<TurnRecord>> BufferedStore::turns(const std::string& call_id) {
  flush(options_.read_flush);
  return backend_->turns(call_id);
}

Status BufferedStore::append_tool_call(const ToolCallRecord& call) {
  return enqueue("tool call " + call.name + " of call " + call.call_id, call);
}

Result<std::vector<ToolCallRecord>> BufferedStore::tool_calls(const std::string& call_id) {
  flush(options_.read_flush);
  return backend_->tool_calls(call_id);
}

StoreHealth BufferedStore::health() const {
  std::lock_guard lock(mutex_);
  return StoreHealth{writable_, queue_.size(), dropped_, rejected_,
                     writable_ ? std::string() : last_error_};
}

bool BufferedStore::flush(milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return drained_.wait_for(lock, timeout, [this] { return queue_.empty(); });
}

void BufferedStore::writer_loop() {
  pthread_setname_np(pthread_self(), "store-writer");
  std::unique_lock lock(mutex_);
  milliseconds backoff = options_.retry_min;
  std::optional<Clock::time_point> stop_by;  // set once stopping: the last chance to store
  auto failing_since = Clock::now();
  std::size_t batch_limit = std::max<std::size_t>(1, backend_->max_batch());
  while (true) {
    if (stopping_ && !stop_by) stop_by = Clock::now() + options_.close_flush;
    if (queue_.empty()) {
      if (stopping_) return;
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      continue;
    }
    if (stop_by && Clock::now() >= *stop_by) return;
    // The writes being stored stay in the queue meanwhile: producers only push at the back.
    const std::size_t count = std::min(queue_.size(), batch_limit);
    std::vector<StoreWrite> batch;
    batch.reserve(count);
    for (std::size_t i = 0; i < count; ++i) batch.push_back(queue_[i].record);
    lock.unlock();
    const auto started = Clock::now();
    const Status status = backend_->write_batch(batch);
    if (status && options_.on_write) {
      options_.on_write(std::chrono::duration<double>(Clock::now() - started).count());
    }
    lock.lock();
    if (!status && count > 1) {
      // None of the batch was stored, and which write failed is not known: the head alone next,
      // at once. A rejected write is then found and set aside; a fault is retried as below.
      batch_limit = 1;
      continue;
    }
    const bool rejected = !status && status.error().rejected;
    if (status || rejected) {
      batch_limit = std::max<std::size_t>(1, backend_->max_batch());
      // The backend answered (stored the writes, or refused the one for good): it works again.
      Pending done = std::move(queue_.front());
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(count));
      if (!writable_) {
        writable_ = true;
        const auto seconds =
            std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - failing_since).count();
        spdlog::warn("store: writable again after {} s; {} pending writes are being stored",
                     seconds, queue_.size() + count);
        last_error_.clear();
      }
      backoff = options_.retry_min;
      if (rejected) {
        ++rejected_;
        lock.unlock();
        set_aside(done, status.error());
        lock.lock();
      }
      drained_.notify_all();
      continue;
    }
    // Logged when writes start failing, not at every retry: the health says it meanwhile.
    if (writable_) {
      writable_ = false;
      failing_since = Clock::now();
      spdlog::error("store: cannot write ({}); {} writes kept in memory and retried until it works",
                    status.error().message, queue_.size());
    }
    last_error_ = status.error().message;
    auto retry_at = Clock::now() + backoff;
    if (stop_by) retry_at = std::min(retry_at, *stop_by);
    wake_.wait_until(lock, retry_at, [&] { return stopping_ && !stop_by; });
    backoff = std::min(options_.retry_max, backoff * 2);
  }
}

namespace {

template <class... Visitors>
struct Overloaded : Visitors... {
  using Visitors::operator()...;
};

}  // namespace

void BufferedStore::set_aside(const Pending& rejected, const Error& why) {
  const nlohmann::json record = std::visit(
      Overloaded{[](const CallRecord& call) { return call_json(call); },
                 [](const CallEnd& end) {
                   return nlohmann::json{
                       {"id", end.call_id}, {"ended_ms", end.ended_ms}, {"end_reason", end.reason}};
                 },
                 [](const TurnRecord& turn) { return turn_json(turn); },
                 [](const ToolCallRecord& tool) { return tool_call_json(tool); }},
      rejected.record);
  if (options_.rejected_path.empty()) {
    spdlog::error("store: {} rejected ({}); set aside, not stored: {}", rejected.what, why.message,
                  record.dump());
    return;
  }
  std::ofstream out(options_.rejected_path, std::ios::app);
  const nlohmann::json line{{"rejected_ms", wall_ms()},
                            {"write", rejected.what},
                            {"error", why.message},
                            {"record", record}};
  out << line.dump() << '\n';
  out.flush();
  if (out) {
    spdlog::error("store: {} rejected ({}); its record is kept in {}", rejected.what, why.message,
                  options_.rejected_path);
  } else {
    spdlog::error("store: {} rejected ({}); cannot write {} either, the record: {}", rejected.what,
                  why.message, options_.rejected_path, record.dump());
  }
}

}  // namespace chalkbot
