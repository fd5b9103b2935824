#pragma once
// A chat model that can be asked before the question is final. The call agent guesses the question
// at a pause in the caller's speech and prefetches the answer; when the caller has indeed finished
// and the final question is the same, the answer is already on its way, so the model's time to
// first token overlaps the end-of-turn wait instead of following it. A guess that turns out wrong
// (the caller went on, or the final transcript differs) is cancelled: a wasted request, nothing
// else.
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "llm/chat_model.h"

namespace chalkbot {

class PrefetchingChatModel final : public ChatModel {
 public:
  explicit PrefetchingChatModel(ChatModel& model);
  ~PrefetchingChatModel() override;  // cancels a prefetch in flight and waits for it
  PrefetchingChatModel(const PrefetchingChatModel&) = delete;
  PrefetchingChatModel& operator=(const PrefetchingChatModel&) = delete;

  // Starts asking `messages` in the background; an earlier prefetch is discarded.
  void prefetch(std::vector<ChatMessage> messages);
  // Cancels the prefetch in flight, if any.
  void discard();

  // When `messages` are exactly the prefetched ones: what has arrived is replayed through `sink`
  // and the rest follows as it streams in. Otherwise a fresh request (the prefetch is discarded).
  Result<ChatReply> stream(const std::vector<ChatMessage>& messages, const TokenSink& sink,
                           const CancelToken& cancel) override;
  // The same without waiting: a fresh request goes straight to the model's own start_stream; a
  // prefetched one is followed on the model's thread (what arrived before on the HttpEngine's).
  std::unique_ptr<ChatStream> start_stream(std::vector<ChatMessage> messages, TokenSink sink,
                                           StreamDone on_done) override;

  std::uint64_t prefetches_used() const;
  std::uint64_t prefetches_discarded() const;

 // Public for the handle that follows one; nothing outside uses it.
  struct Flight;

 private:
  static Result<ChatReply> follow(Flight& flight, const TokenSink& sink, const CancelToken& cancel);
  std::unique_ptr<Flight> take_flight();

  ChatModel& model_;
  mutable std::mutex mutex_;
  std::unique_ptr<Flight> flight_;
  std::uint64_t used_ = 0;
  std::uint64_t discarded_ = 0;
};

}  // namespace chalkbot
