#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <chrono>
#include <thread>

#include "llm/prefetching_chat.h"

namespace chalkbot {
namespace {

using namespace std::chrono_literals;

// Answers "<question> answered" in three pieces, 10 ms apart; counts requests and cancellations.
class ScriptedModel final : public ChatModel {
 public:
  Result<ChatReply> stream(const std::vector<ChatMessage>& messages, const TokenSink& sink,
                           const CancelToken& cancel) override {
    ++requests;
    const std::string question = messages.back().content;
    ChatReply reply;
    for (const std::string& piece : {question, std::string(" "), std::string("answered")}) {
      std::this_thread::sleep_for(10ms);
      if (cancel.cancelled()) {
        ++cancelled;
        reply.stopped = true;
        return reply;
      }
      reply.text += piece;
      if (!sink(piece)) {
        reply.stopped = true;
        return reply;
      }
    }
    return reply;
  }
  std::atomic<int> requests{0};
  std::atomic<int> cancelled{0};
};

std::vector<ChatMessage> asking(const std::string& question) {
  return {{"system", "be brief"}, {"user", question}};
}

TEST(PrefetchingChat, TheSameQuestionPicksUpThePrefetchedAnswer) {
  ScriptedModel model;
  PrefetchingChatModel chat(model);
  chat.prefetch(asking("capital"));
  std::this_thread::sleep_for(25ms);  // part of the answer has arrived meanwhile
  std::string heard;
  auto reply = chat.stream(asking("capital"), [&](std::string_view d) {
    heard.append(d);
    return true;
  }, CancelToken());
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->text, "capital answered");
  EXPECT_EQ(heard, "capital answered");
  EXPECT_EQ(model.requests, 1);
  EXPECT_EQ(chat.prefetches_used(), 1u);
}

TEST(PrefetchingChat, ADifferentQuestionCancelsTheGuessAndAsksAfresh) {
  ScriptedModel model;
  PrefetchingChatModel chat(model);
  chat.prefetch(asking("capital"));
  std::string heard;
  auto reply = chat.stream(asking("capital of spain"), [&](std::string_view d) {
    heard.append(d);
    return true;
  }, CancelToken());
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(heard, "capital of spain answered");
  EXPECT_EQ(model.requests, 2);
  EXPECT_EQ(model.cancelled, 1);
  EXPECT_EQ(chat.prefetches_discarded(), 1u);
}

TEST(PrefetchingChat, DiscardCancelsTheRequest) {
  ScriptedModel model;
  PrefetchingChatModel chat(model);
  chat.prefetch(asking("capital"));
  chat.discard();
  EXPECT_EQ(model.cancelled, 1);
  // Nothing is left to pick up: the next question is a fresh request.
  auto reply = chat.stream(asking("capital"), [](std::string_view) { return true; }, CancelToken());
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(model.requests, 2);
}

TEST(PrefetchingChat, StoppingThePickedUpAnswerCancelsIt) {
  ScriptedModel model;
  PrefetchingChatModel chat(model);
  chat.prefetch(asking("story"));
  CancelToken barge_in;
  std::string heard;
  auto reply = chat.stream(asking("story"), [&](std::string_view d) {
    heard.append(d);
    barge_in.cancel();  // the caller interrupts after the first piece
    return true;
  }, barge_in);
  ASSERT_TRUE(reply.ok());
  EXPECT_TRUE(reply->stopped);
  EXPECT_EQ(reply->text, heard);
  EXPECT_EQ(heard, "story");
}

// start_stream on a prefetched question: what arrived is replayed, the rest follows, and the
// end comes through on_done; no second request.
struct Followed {
  std::mutex mutex;
  std::condition_variable changed;
  std::string heard;
  std::optional<Result<ChatReply>> reply;
  int pieces = 0;

  TokenSink sink(int stop_after = 0) {
    return [this, stop_after](std::string_view d) {
      const std::lock_guard lock(mutex);
      heard.append(d);
      ++pieces;
      changed.notify_all();
      return stop_after == 0 || pieces < stop_after;
    };
  }
  StreamDone done() {
    return [this](Result<ChatReply> r) {
      const std::lock_guard lock(mutex);
      reply = std::move(r);
      changed.notify_all();
    };
  }
  bool wait_until(const std::function<bool()>& ready) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 5s, ready);
  }
};

// Prefetches "capital", waits `meanwhile`, then asks the same with start_stream to the end.
void follow_prefetch_after(std::chrono::milliseconds meanwhile) {
  ScriptedModel model;
  PrefetchingChatModel chat(model);
  chat.prefetch(asking("capital"));
  std::this_thread::sleep_for(meanwhile);
  Followed followed;
  auto stream = chat.start_stream(asking("capital"), followed.sink(), followed.done());
  ASSERT_TRUE(followed.wait_until([&] { return followed.reply.has_value(); }));
  ASSERT_TRUE(followed.reply->ok());
  EXPECT_EQ((*followed.reply)->text, "capital answered");
  EXPECT_FALSE((*followed.reply)->stopped);
  EXPECT_EQ(followed.heard, "capital answered");
  EXPECT_EQ(model.requests, 1);
  EXPECT_EQ(chat.prefetches_used(), 1u);
}

TEST(PrefetchingChat, StartStreamFollowsThePrefetchMidway) {
  follow_prefetch_after(15ms);  // one piece has arrived meanwhile
}

TEST(PrefetchingChat, StartStreamAfterThePrefetchEndedReplaysItAll) {
  follow_prefetch_after(100ms);  // the whole answer has arrived
}

TEST(PrefetchingChat, AFollowerThatStopsEndsWithWhatItHeard) {
  ScriptedModel model;
  PrefetchingChatModel chat(model);
  chat.prefetch(asking("story"));
  Followed followed;
  auto stream = chat.start_stream(asking("story"), followed.sink(/*stop_after=*/1),
                                  followed.done());
  ASSERT_TRUE(followed.wait_until([&] { return followed.reply.has_value(); }));
  ASSERT_TRUE(followed.reply->ok());
  EXPECT_TRUE((*followed.reply)->stopped);
  // The first delivery is the catch-up: whatever had arrived when the engine's thread ran it
  // ("story", or "story " on a busy machine). The reply is exactly what was heard.
  const std::string heard = followed.heard;
  EXPECT_EQ((*followed.reply)->text, heard);
  EXPECT_TRUE(heard.starts_with("story") && std::string("story answered").starts_with(heard))
      << heard;
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(followed.heard, heard);  // nothing after the stop
}

TEST(PrefetchingChat, ACancelledFollowerHearsNothingMore) {
  ScriptedModel model;
  PrefetchingChatModel chat(model);
  chat.prefetch(asking("story"));
  Followed followed;
  auto stream = chat.start_stream(asking("story"), followed.sink(), followed.done());
  ASSERT_TRUE(followed.wait_until([&] { return followed.pieces >= 1; }));
  stream->cancel();
  const std::string heard_at_cancel = [&] {
    const std::lock_guard lock(followed.mutex);
    return followed.heard;
  }();
  std::this_thread::sleep_for(60ms);  // the rest of the answer would have come meanwhile
  const std::lock_guard lock(followed.mutex);
  EXPECT_EQ(followed.heard, heard_at_cancel);
  EXPECT_FALSE(followed.reply.has_value());
  stream.reset();  // drops the flight: its request is cancelled
}

}  // namespace
}  // namespace chalkbot
