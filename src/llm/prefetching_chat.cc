#include "llm/prefetching_chat.h"

#include <chrono>
#include <condition_variable>
#include <optional>
#include <string>

#include "core/clock.h"
#include "net/http_engine.h"

namespace chalkbot {

// One background request. What streams in is kept; a follower replays it and follows the rest:
// the blocking stream() by waiting on `arrived`, start_stream() by taking the request's callbacks
// over (`following`). The recursive mutex guards everything and is held while a follower's
// callback runs; a follower that cancels from inside its own callback does not deadlock.
struct PrefetchingChatModel::Flight {
  std::vector<ChatMessage> messages;
  std::recursive_mutex mutex;
  std::condition_variable_any arrived;
  std::string text;  // everything received so far
  std::optional<Result<ChatReply>> result;  // set when the request ended

  // The follower that took the flight with start_stream (the model's thread runs these).
  bool following = false;
  bool caught_up = false;     // what had arrived before it followed has been replayed
  std::size_t delivered = 0;  // of `text`
  TokenSink follower_sink;
  StreamDone follower_done;

  std::unique_ptr<ChatStream> request;

  ~Flight() {
    if (request) request->cancel();  // before the members its callbacks use go
  }

  // The follower gets what it has not had yet. False when its sink asked to stop: it is done.
  bool deliver() {
    if (text.size() > delivered) {
      const std::string piece = text.substr(delivered);
      delivered = text.size();
      if (!follower_sink(piece)) {
        following = false;
        ChatReply reply;
        reply.text = text.substr(0, delivered);
        reply.stopped = true;
        follower_done(std::move(reply));
        return false;
      }
    }
    if (result) {
      following = false;
      follower_done(std::move(*result));
    }
    return true;
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
  Flight* f = flight.get();
  flight->request = model_.start_stream(
      f->messages,
      [f](std::string_view delta) {
        const std::lock_guard lock(f->mutex);
        f->text.append(delta);
        f->arrived.notify_all();
        return !(f->following && f->caught_up) || f->deliver();
      },
      [f](Result<ChatReply> reply) {
        const std::lock_guard lock(f->mutex);
        f->result = std::move(reply);
        f->arrived.notify_all();
        if (f->following && f->caught_up) f->deliver();
      });
  std::unique_ptr<Flight> replaced;
  {
    std::lock_guard lock(mutex_);
    replaced = std::move(flight_);
    flight_ = std::move(flight);
    if (replaced) ++discarded_;
  }
  // `replaced` is cancelled here, outside the lock.
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

namespace {

// start_stream's handle on a prefetch it took: owns the flight (dropping it cancels the request).
class FollowedFlight final : public ChatStream {
 public:
  FollowedFlight(std::unique_ptr<PrefetchingChatModel::Flight> flight, TokenSink sink,
                 StreamDone on_done)
      : flight_(std::move(flight)) {
    auto* f = flight_.get();
    {
      const std::lock_guard lock(f->mutex);
      f->follower_sink = std::move(sink);
      f->follower_done = std::move(on_done);
      f->following = true;
    }
    // What arrived before is replayed on the engine's thread, like everything after it: the
    // caller's thread may hold locks its own callbacks take.
    catch_up_ = HttpEngine::shared().after(Millis(0), [f] {
      const std::lock_guard lock(f->mutex);
      if (!f->following) return;
      f->caught_up = true;
      f->deliver();
    });
  }
  ~FollowedFlight() override { cancel(); }

  void cancel() override {
    catch_up_->cancel();
    const std::lock_guard lock(flight_->mutex);  // waits for a callback in progress
    flight_->following = false;
  }

 private:
  std::unique_ptr<PrefetchingChatModel::Flight> flight_;
  std::shared_ptr<HttpTask> catch_up_;
};

}  // namespace

std::unique_ptr<ChatStream> PrefetchingChatModel::start_stream(std::vector<ChatMessage> messages,
                                                               TokenSink sink,
                                                               StreamDone on_done) {
  std::unique_ptr<Flight> flight = take_flight();
  if (flight && same_messages(flight->messages, messages)) {
    {
      std::lock_guard lock(mutex_);
      ++used_;
    }
    return std::make_unique<FollowedFlight>(std::move(flight), std::move(sink),
                                            std::move(on_done));
  }
  if (flight) {
    std::lock_guard lock(mutex_);
    ++discarded_;
  }
  flight.reset();  // a wrong guess: cancelled before the real request goes out
  return model_.start_stream(std::move(messages), std::move(sink), std::move(on_done));
}

Result<ChatReply> PrefetchingChatModel::follow(Flight& f, const TokenSink& sink,
                                               const CancelToken& cancel) {
  using namespace std::chrono_literals;
  std::size_t delivered = 0;
  std::unique_lock lock(f.mutex);
  for (;;) {
    // The caller's token has no wake-up of its own: look at it every 20 ms.
    f.arrived.wait_for(lock, 20ms, [&] { return f.text.size() > delivered || f.result; });
    if (cancel.cancelled()) break;
    if (f.text.size() > delivered) {
      const std::string piece = f.text.substr(delivered);
      delivered = f.text.size();
      lock.unlock();
      const bool more = sink(piece);
      lock.lock();
      if (!more) break;
      continue;
    }
    if (f.result) return std::move(*f.result);
  }
  // Stopped: the request is cancelled with the flight.
  ChatReply reply;
  reply.text = f.text.substr(0, delivered);
  reply.stopped = true;
  return reply;
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
