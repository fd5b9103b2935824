// Memory across calls: who the caller is, the system message the summaries make, the summary
// request, a conversation's requests carrying the summaries, and the memory service writing,
// recalling and forgetting them (against a real SQLite store and a scripted model).
#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "agent/call_flow.h"
#include "agent/caller_memory.h"
#include "agent/conversation.h"
#include "core/clock.h"
#include "store/sqlite_store.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

TEST(CallerIdentity, IsTheUserPartOfTheFromOrTheNumber) {
  EXPECT_EQ(caller_identity("sip:+15551234@pbx.example.com;user=phone"), "+15551234");
  EXPECT_EQ(caller_identity("Alice <sip:alice@example.com>;tag=1234"), "alice");
  EXPECT_EQ(caller_identity("sips:bob;x=1@example.com"), "bob");
  EXPECT_EQ(caller_identity("tel:+1-555-123-4567;phone-context=x"), "+15551234567");
  EXPECT_EQ(caller_identity("+1 (555) 123-4567"), "+15551234567");  // a Twilio caller
  EXPECT_EQ(caller_identity("alice"), "alice");
  // No identity: not remembered.
  EXPECT_EQ(caller_identity("sip:anonymous@anonymous.invalid"), "");
  EXPECT_EQ(caller_identity("sip:pbx.example.com"), "");
  EXPECT_EQ(caller_identity("audiosocket:127.0.0.1:40000"), "");
  EXPECT_EQ(caller_identity("twilio:10.0.0.1:5555"), "");
  EXPECT_EQ(caller_identity("cli:turn"), "");
  EXPECT_EQ(caller_identity(""), "");
}

TEST(MemorySystemMessage, ListsTheSummariesOldestFirstWithTheirDates) {
  EXPECT_EQ(memory_system_message({}), "");
  // 2026-12-01 and 2026-12-04 (UTC).
  const std::string text = memory_system_message(
      {{"alice", "c1", 1796083200000, "Asked about opening hours."},
       {"alice", "c2", 1796342400000, "Booked a table for two on Friday."}});
  const auto first = text.find("- 2026-12-01: Asked about opening hours.");
  const auto second = text.find("- 2026-12-04: Booked a table for two on Friday.");
  ASSERT_NE(first, std::string::npos) << text;
  ASSERT_NE(second, std::string::npos) << text;
  EXPECT_LT(first, second);
}

TEST(SummaryRequest, IsThePromptAndTheTranscriptAndNothingWithoutTheCaller) {
  const std::vector<TurnRecord> turns = {
      {"c1", 0, "assistant", "Hello, how can I help?", false, {}},
      {"c1", 1, "user", "When do you open?", false, {}},
      {"c1", 2, "assistant", "", true, {}},  // cut short before a word: left out
      {"c1", 3, "assistant", "At nine.", false, {}},
  };
  auto request = summary_request("Summarise.", turns);
  ASSERT_TRUE(request);
  ASSERT_EQ(request->size(), 2u);
  EXPECT_EQ((*request)[0].role, "system");
  EXPECT_EQ((*request)[0].content, "Summarise.");
  EXPECT_EQ((*request)[1].role, "user");
  EXPECT_EQ((*request)[1].content,
            "Assistant: Hello, how can I help?\nCaller: When do you open?\nAssistant: At nine.");
  EXPECT_FALSE(summary_request("Summarise.", {}));
  EXPECT_FALSE(summary_request("Summarise.", {turns[0]}));  // only the greeting: no summary
}

TEST(CallFlowForget, ASpokenForgetMeIsHeardOnlyWhenMemoryIsOn) {
  FlowSettings flow = testing::default_settings().flow;
  auto off = CallFlow::from(flow);
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->wants_forgetting("please forget me"));
  auto on = CallFlow::from(flow, "forget me,delete my data");
  ASSERT_TRUE(on.ok());
  EXPECT_TRUE(on->wants_forgetting("Please forget me."));
  EXPECT_TRUE(on->wants_forgetting("can you delete my data please"));
  EXPECT_FALSE(on->wants_forgetting("what is the weather"));
  EXPECT_FALSE(on->wants_forgetting(
      "I keep asking myself whether you will forget me once this very long call is over"));
}

// Answers every request with a fixed text and keeps what it was asked.
class RecordingModel final : public ChatModel {
 public:
  explicit RecordingModel(std::string answer) : answer_(std::move(answer)) {}
  Result<ChatReply> stream(const std::vector<ChatMessage>& messages, const TokenSink& sink,
                           const CancelToken&) override {
    {
      const std::lock_guard lock(mutex_);
      asked_.push_back(messages);
    }
    sink(answer_);
    return ChatReply{answer_, false, 1};
  }
  std::vector<std::vector<ChatMessage>> asked() {
    const std::lock_guard lock(mutex_);
    return asked_;
  }

 private:
  std::string answer_;
  std::mutex mutex_;
  std::vector<std::vector<ChatMessage>> asked_;
};

struct CallerMemoryTest : ::testing::Test {
  CallerMemoryTest() {
    settings.llm.system_prompt = "Be brief.";
    settings.memory.across_calls = true;
    auto opened = open_sqlite_store(dir + "/calls.db");
    EXPECT_TRUE(opened.ok());
    store = std::move(*opened);
  }
  ~CallerMemoryTest() override { std::filesystem::remove_all(dir); }

  std::vector<std::string> kept(const std::string& caller) {
    auto got = store->summaries(caller, 100);
    EXPECT_TRUE(got.ok());
    std::vector<std::string> texts;
    if (got.ok()) {
      for (const auto& s : *got) texts.push_back(s.text);
    }
    return texts;
  }

  Settings settings = testing::default_settings();
  std::string dir = testing::make_temp_dir();
  std::unique_ptr<ConversationStore> store;
};

TEST_F(CallerMemoryTest, TheSummariesGoAfterTheSystemPromptOfEveryRequest) {
  RecordingModel model("Fine.");
  ASSERT_TRUE(store->begin_call({"call-2", "sip:alice@x", "bot", 1, {}, "", ""}).ok());
  Conversation conversation(model, *store, settings, "call-2", Conversation::History::kNewCall);
  auto context = std::make_shared<CallerContext>();
  conversation.set_caller_context(context);
  StageTimes times;
  ASSERT_TRUE(conversation.answer("Hi", times, {}, CancelToken{}).ok());
  context->set("Notes from your earlier calls: booked a table.");
  ASSERT_TRUE(conversation.answer("Is it still on?", times, {}, CancelToken{}).ok());

  const auto asked = model.asked();
  ASSERT_EQ(asked.size(), 2u);
  // Not loaded yet: the request goes without.
  EXPECT_EQ(asked[0].size(), 2u);
  ASSERT_EQ(asked[1].size(), 5u);
  EXPECT_EQ(asked[1][0].content, "Be brief.");
  EXPECT_EQ(asked[1][1].role, "system");
  EXPECT_EQ(asked[1][1].content, "Notes from your earlier calls: booked a table.");
  EXPECT_EQ(asked[1][4].content, "Is it still on?");
}

TEST_F(CallerMemoryTest, ACallIsSummarisedRecalledAndForgotten) {
  RecordingModel model("  Alice booked a table for Friday.\n");
  CallerMemory memory(model, *store, settings.memory);
  memory.summarise("alice", "call-1", 1000,
                   {{"call-1", 0, "user", "Book a table for Friday.", false, {}},
                    {"call-1", 1, "assistant", "Done.", false, {}}});
  memory.summarise("alice", "call-0", 1000, {});  // no turns: no summary, no model request
  memory.flush();
  EXPECT_EQ(kept("alice"), std::vector<std::string>{"Alice booked a table for Friday."});
  ASSERT_EQ(model.asked().size(), 1u);
  EXPECT_EQ(model.asked()[0][0].content, settings.memory.summary_prompt);

  auto context = std::make_shared<CallerContext>();
  memory.recall("alice", context);
  memory.flush();
  EXPECT_NE(context->get().find("Alice booked a table for Friday."), std::string::npos);
  auto nobody = std::make_shared<CallerContext>();
  memory.recall("bob", nobody);
  memory.flush();
  EXPECT_EQ(nobody->get(), "");

  auto erased = memory.forget_and_wait("alice");
  ASSERT_TRUE(erased.ok());
  EXPECT_EQ(*erased, 1);
  EXPECT_TRUE(kept("alice").empty());
  // A call that ended before the forget is not remembered afterwards either.
  memory.summarise("alice", "call-1b", 1500,
                   {{"call-1b", 0, "user", "Hello again.", false, {}}});
  memory.flush();
  EXPECT_TRUE(kept("alice").empty());
}

TEST_F(CallerMemoryTest, OnlyTheLatestFewAreRecalledAndOldOnesExpire) {
  RecordingModel model("unused");
  settings.memory.summaries_per_call = 2;
  settings.memory.retention_days = 1;
  const std::int64_t now = wall_ms();
  ASSERT_TRUE(store->add_summary({"carol", "old", now - 3LL * 86400000, "old call"}).ok());
  ASSERT_TRUE(store->add_summary({"carol", "c1", now - 2000, "first"}).ok());
  ASSERT_TRUE(store->add_summary({"carol", "c2", now - 1000, "second"}).ok());
  CallerMemory memory(model, *store, settings.memory);
  auto context = std::make_shared<CallerContext>();
  memory.recall("carol", context);
  memory.flush();
  EXPECT_EQ(context->get().find("old call"), std::string::npos);
  EXPECT_LT(context->get().find("first"), context->get().find("second"));
  memory.start_retention();  // erases at once, then daily
  memory.flush();
  EXPECT_EQ(kept("carol"), (std::vector<std::string>{"first", "second"}));
}

}  // namespace
}  // namespace chalkbot
