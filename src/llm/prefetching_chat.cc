#include "llm/prefetching_chat.h"

#include <chrono>
#include <optional>
#include <string>

namespace chalkbot {

// One background request: its thread appends what streams in; a follower replays and follows it.
struct PrefetchingChatModel::Flight {
  std::vector<ChatMessage> messages;
  CancelToken cancel;
  std::mutex mutex;
  std::condition_variable arrived;
  std::string text;  // everything received so far
  bool done = false;
  std::optional<Result<ChatReply>> result;
  std::thread thread;

  ~Flight() {
    cancel.cancel();
    if (thread.joinable()) thread.join();
  }
};

namespace {

bool same_messages(const std::vector<ChatMessage>& a, const std::vector<ChatMessage>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].role != b[i].role || a[i].content != b[i].content) return false;
  }
  return true;
}

}  // namespace

PrefetchingChatModel::PrefetchingChatModel(ChatModel& model) : model_(model) {}

PrefetchingChatModel::~PrefetchingChatModel() = default;

void PrefetchingChatModel::prefetch(std::vector<ChatMessage> messages) {
  auto flight = std::make_unique<Flight>();
  flight->messages = std::move(messages);
  Flight& f = *flight;
  f.thread = std::thread([this, &f] {
    auto reply = model_.stream(
        f.messages,
        [&f](std::string_view delta) {
          {
            std::lock_guard lock(f.mutex);
            f.text.append(delta);
          }
          f.arrived.notify_all();
          return !f.cancel.cancelled();
        },
        f.cancel);
    {
      std::lock_guard lock(f.mutex);
      f.result = std::move(reply);
      f.done = true;
    }
    f.arrived.notify_all();
  });
  std::unique_ptr<Flight> replaced;
  {
    std::lock_guard lock(mutex_);
    replaced = std::move(flight_);
    flight_ = std::move(flight);
    if (replaced) ++discarded_;
  }
  // `replaced` is cancelled and joined here, outside the lock.
}

void PrefetchingChatModel::discard() {
  std::unique_ptr<Flight> dropped;
  {
    std::lock_guard lock(mutex_);
    dropped = std::move(flight_);
    if (dropped) ++discarded_;
  }
}

std::unique_ptr<PrefetchingChatModel::Flight> PrefetchingChatModel::take_flight() {
  std::lock_guard lock(mutex_);
  return std::move(flight_);
}

Result<ChatReply> PrefetchingChatModel::stream(const std::vector<ChatMessage>& messages,
                                               const TokenSink& sink, const CancelToken& cancel) {
  std::unique_ptr<Flight> flight = take_flight();
  if (flight && same_messages(flight->messages, messages)) {
    {
      std::lock_guard lock(mutex_);
      ++used_;
    }
    return follow(*flight, sink, cancel);
  }
  if (flight) {
    std::lock_guard lock(mutex_);
    ++discarded_;
  }
  flight.reset();  // a wrong guess: cancelled before the real request goes out
  return model_.stream(messages, sink, cancel);
}

std::unique_ptr<ChatStream> PrefetchingChatModel::start_stream(std::vector<ChatMessage> messages,
                                                               TokenSink sink,
                                                               StreamDone on_done) {
  {
    std::lock_guard lock(mutex_);
    if (flight_ && same_messages(flight_->messages, messages)) {
      // stream() picks the flight up, on the default's thread.
      return ChatModel::start_stream(std::move(messages), std::move(sink), std::move(on_done));
    }
  }
  discard();  // a wrong guess (if any): cancelled before the real request goes out
  return model_.start_stream(std::move(messages), std::move(sink), std::move(on_done));
}

Result<ChatReply> PrefetchingChatModel::follow(Flight& f, const TokenSink& sink,
                                               const CancelToken& cancel) {
  using namespace std::chrono_literals;
  std::size_t delivered = 0;
  bool stopped = false;
  std::unique_lock lock(f.mutex);
  for (;;) {
    // The caller's token has no wake-up of its own: look at it every 20 ms.
    f.arrived.wait_for(lock, 20ms, [&] { return f.text.size() > delivered || f.done; });
    if (cancel.cancelled()) {
      stopped = true;
      break;
    }
    if (f.text.size() > delivered) {
      const std::string piece = f.text.substr(delivered);
      delivered = f.text.size();
      lock.unlock();
      const bool more = sink(piece);
      lock.lock();
      if (!more) {
        stopped = true;
        break;
      }
      continue;
    }
    if (f.done) break;
  }
  if (stopped) {
    f.cancel.cancel();
    ChatReply reply;
    reply.text = f.text.substr(0, delivered);
    reply.stopped = true;
    return reply;
  }
  return std::move(*f.result);
}

std::uint64_t PrefetchingChatModel::prefetches_used() const {
  std::lock_guard lock(mutex_);
  return used_;
}

std::uint64_t PrefetchingChatModel::prefetches_discarded() const {
  std::lock_guard lock(mutex_);
  return discarded_;
}

}  // namespace chalkbot
