#include "llm/chat_model.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

namespace chalkbot {
namespace {

// The default start_stream: the blocking stream() on a thread of its own. The callbacks run under
// a mutex that cancel() also takes, so once cancel() returns none of them runs again.
class ThreadedChatStream final : public ChatStream {
 public:
  ThreadedChatStream(ChatModel& model, std::vector<ChatMessage> messages, TokenSink sink,
                     StreamDone on_done)
      : sink_(std::move(sink)), on_done_(std::move(on_done)) {
    thread_ = std::thread([this, &model, messages = std::move(messages)] {
      auto reply = model.stream(
          messages,
          [this](std::string_view delta) {
            const std::lock_guard lock(mutex_);
            return !cancelled_ && sink_(delta);
          },
          token_);
      const std::lock_guard lock(mutex_);
      if (!cancelled_ && on_done_) on_done_(std::move(reply));
    });
  }
  ~ThreadedChatStream() override {
    cancel();
    thread_.join();  // the request notices the token within ~20 ms
  }
  void cancel() override {
    token_.cancel();
    const std::lock_guard lock(mutex_);
    cancelled_ = true;
  }

 private:
  TokenSink sink_;
  StreamDone on_done_;
  CancelToken token_;
  std::mutex mutex_;
  bool cancelled_ = false;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<ChatStream> ChatModel::start_stream(std::vector<ChatMessage> messages,
                                                    TokenSink sink, StreamDone on_done) {
  return std::make_unique<ThreadedChatStream>(*this, std::move(messages), std::move(sink),
                                              std::move(on_done));
}

Result<ChatReply> stream_and_wait(ChatModel& model, const std::vector<ChatMessage>& messages,
                                  const TokenSink& sink, const CancelToken& cancel) {
  std::mutex mutex;
  std::condition_variable ended;
  std::optional<Result<ChatReply>> result;
  std::string received;  // for the reply when the caller cancels
  auto stream = model.start_stream(
      messages,
      [&](std::string_view delta) {
        received.append(delta);
        return sink(delta);
      },
      [&](Result<ChatReply> reply) {
        const std::lock_guard lock(mutex);
        result = std::move(reply);
        ended.notify_all();
      });
  std::unique_lock lock(mutex);
  // The token has no wake-up of its own: look at it every 20 ms.
  while (!result && !cancel.cancelled()) ended.wait_for(lock, std::chrono::milliseconds(20));
  if (result) return std::move(*result);
  lock.unlock();
  stream->cancel();  // no callback runs after this, so `received` is ours to read
  lock.lock();
  if (result) return std::move(*result);
  ChatReply reply;
  reply.text = std::move(received);
  reply.stopped = true;
  return reply;
}

}  // namespace chalkbot
