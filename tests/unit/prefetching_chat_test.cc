#include <gtest/gtest.h>

#include <atomic>
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

}  // namespace
}  // namespace chalkbot
