// An answer that streams without blocking anyone (Conversation::start_answer): sentences handed
// on as the model writes them, the apology after a model failure, a stop before the end marked
// interrupted, and each turn stored once with its timeline. The model here is driven by the test
// (what its HTTP thread would do); the blocking answer() rides on the same stream.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "agent/conversation.h"
#include "store/sqlite_store.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

// A stream the test drives by hand: tokens and the end come when the test says.
class HandDrivenModel final : public ChatModel {
 public:
  struct Stream final : ChatStream {
    void cancel() override { cancelled = true; }
    bool cancelled = false;
  };
  Result<ChatReply> stream(const std::vector<ChatMessage>&, const TokenSink&,
                           const CancelToken&) override {
    return make_error("only start_stream here");
  }
  std::unique_ptr<ChatStream> start_stream(std::vector<ChatMessage> messages, TokenSink sink,
                                           StreamDone on_done) override {
    asked = std::move(messages);
    ++streams;
    text.clear();
    sink_ = std::move(sink);
    done_ = std::move(on_done);
    auto stream = std::make_unique<Stream>();
    live = stream.get();
    return stream;
  }
  void token(std::string_view delta) {
    text += delta;
    sink_(delta);
  }
  void end() { done_(ChatReply{text, false, 1}); }
  void end_with_tools(std::vector<ToolCall> calls) {
    done_(ChatReply{text, false, 1, std::move(calls)});
  }
  void fail() { done_(make_error(ErrorKind::kServerError, "HTTP 500")); }

  std::vector<ChatMessage> asked;
  int streams = 0;
  Stream* live = nullptr;
  std::string text;

 private:
  TokenSink sink_;
  StreamDone done_;
};

// The same model as a plain blocking stream: the default start_stream runs it on a thread.
class ScriptedBlockingModel final : public ChatModel {
 public:
  Result<ChatReply> stream(const std::vector<ChatMessage>&, const TokenSink& sink,
                           const CancelToken& cancel) override {
    ChatReply reply;
    for (const char* token : {"One. ", "Two. ", "Three. ", "Four."}) {
      if (cancel.cancelled()) return ChatReply{reply.text, true, 1};
      reply.text += token;
      if (!sink(token)) return ChatReply{reply.text, true, 1};
    }
    return reply;
  }
};

struct AnswerStreamTest : ::testing::Test {
  AnswerStreamTest() {
    settings.llm.system_prompt = "Be brief.";
    auto opened = open_sqlite_store(dir + "/calls.db");
    EXPECT_TRUE(opened.ok());
    store = std::move(*opened);
    EXPECT_TRUE(store->begin_call({"call-1", "caller", "bot", 1, {}, "", ""}).ok());
  }
  ~AnswerStreamTest() override { std::filesystem::remove_all(dir); }

  std::vector<TurnRecord> stored() {
    auto turns = store->turns("call-1");
    EXPECT_TRUE(turns.ok());
    return turns.ok() ? *turns : std::vector<TurnRecord>{};
  }

  Settings settings = testing::default_settings();
  std::string dir = testing::make_temp_dir();
  std::unique_ptr<ConversationStore> store;
  std::vector<std::string> sentences;
  int ends = 0;
  AnswerHandlers handlers{
      {},
      [this](std::string sentence) { sentences.push_back(std::move(sentence)); },
      [this] { ++ends; },
      {},
      0};
};

TEST_F(AnswerStreamTest, SentencesGoOutAsTheyAreWrittenAndTheAnswerIsStoredWithItsTimes) {
  HandDrivenModel model;
  Conversation conversation(model, *store, settings, "call-1", Conversation::History::kNewCall);
  StageTimes times;
  times.asr_done = 1000;
  auto stream = conversation.start_answer("What is the capital?", times, handlers);
  ASSERT_TRUE(stream.ok());
  ASSERT_EQ(model.asked.size(), 2u);
  EXPECT_EQ(model.asked[1].content, "What is the capital?");
  ASSERT_EQ(stored().size(), 1u);  // the question is on disk before the answer begins

  model.token("Paris is the ");
  EXPECT_TRUE(sentences.empty());
  model.token("capital. It is ");
  EXPECT_EQ(sentences, std::vector<std::string>{"Paris is the capital."});
  model.token("lovely");
  model.end();
  EXPECT_EQ(sentences, (std::vector<std::string>{"Paris is the capital.", "It is lovely"}));
  EXPECT_EQ(ends, 1);

  AnswerEnd end = (*stream)->finish();
  EXPECT_EQ(end.answer.text, "Paris is the capital. It is lovely");
  EXPECT_FALSE(end.answer.interrupted);
  EXPECT_FALSE(end.answer.model_failed);
  EXPECT_EQ(end.times.asr_done, 1000);
  EXPECT_TRUE(end.times.llm_first_token && end.times.first_sentence && end.times.done);
  end.times.first_rtp_out = *end.times.done + 5;  // the owner's stamp goes with it
  conversation.store_answer(end);
  const auto turns = stored();
  ASSERT_EQ(turns.size(), 2u);
  EXPECT_EQ(turns[1].role, "assistant");
  EXPECT_EQ(turns[1].text, "Paris is the capital. It is lovely");
  EXPECT_EQ(turns[1].times.first_rtp_out, *end.times.done + 5);
}

TEST_F(AnswerStreamTest, FinishBeforeTheEndStopsTheModelAndMarksTheAnswerInterrupted) {
  HandDrivenModel model;
  Conversation conversation(model, *store, settings, "call-1", Conversation::History::kNewCall);
  auto stream = conversation.start_answer("Tell me a story", StageTimes{}, handlers);
  ASSERT_TRUE(stream.ok());
  model.token("Once upon a time there was");
  AnswerEnd end = (*stream)->finish();
  EXPECT_TRUE(model.live->cancelled);
  EXPECT_TRUE(end.answer.interrupted);
  EXPECT_EQ(end.answer.text, "Once upon a time there was");
  EXPECT_EQ(ends, 0);
  conversation.store_answer(end);
  EXPECT_TRUE(stored().back().interrupted);
}

TEST_F(AnswerStreamTest, AModelFailureEndsWithTheApologyAfterWhatWasSaid) {
  HandDrivenModel model;
  Conversation conversation(model, *store, settings, "call-1", Conversation::History::kNewCall);
  auto stream = conversation.start_answer("Hello?", StageTimes{}, handlers);
  ASSERT_TRUE(stream.ok());
  model.token("Hello there. And");
  model.fail();
  EXPECT_EQ(sentences, (std::vector<std::string>{"Hello there.", kApology}));
  EXPECT_EQ(ends, 1);
  AnswerEnd end = (*stream)->finish();
  EXPECT_TRUE(end.answer.model_failed);
  EXPECT_EQ(end.answer.error.kind, ErrorKind::kServerError);
  EXPECT_EQ(end.answer.text, std::string("Hello there. ") + kApology);
  EXPECT_FALSE(end.answer.interrupted);
}

TEST_F(AnswerStreamTest, TheBlockingAnswerRunsCallbacksOnItsThreadAndStopsWhenTheyAsk) {
  ScriptedBlockingModel model;
  Conversation conversation(model, *store, settings, "call-1", Conversation::History::kNewCall);
  const auto caller = std::this_thread::get_id();
  std::vector<std::string> said;
  AnswerCallbacks callbacks;
  callbacks.on_sentence = [&](const std::string& sentence) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    said.push_back(sentence);
    return true;
  };
  StageTimes times;
  auto whole = conversation.answer("Count", times, callbacks, CancelToken{});
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(said, (std::vector<std::string>{"One.", "Two.", "Three.", "Four."}));
  EXPECT_FALSE(whole->interrupted);
  EXPECT_TRUE(times.done.has_value());

  said.clear();
  callbacks.on_sentence = [&](const std::string& sentence) {
    said.push_back(sentence);
    return false;  // the listener hung up after the first
  };
  auto cut = conversation.answer("Count again", times, callbacks, CancelToken{});
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(said.size(), 1u);
  EXPECT_TRUE(cut->interrupted);
  const auto turns = stored();
  ASSERT_EQ(turns.size(), 4u);
  EXPECT_TRUE(turns[3].interrupted);
}

}  // namespace
}  // namespace chalkbot

namespace chalkbot {
namespace {

// A tool round: what the model said before its tools is spoken whole, the tools' results go back
// with the conversation so far, and the answer streams on in the same utterance.
TEST_F(AnswerStreamTest, ToolCallsAreHandedOnAndTheAnswerGoesOnWithTheirResults) {
  HandDrivenModel model;
  Conversation conversation(model, *store, settings, "call-1", Conversation::History::kNewCall);
  std::vector<std::vector<ToolCall>> asked_tools;
  handlers.max_tool_rounds = 2;
  handlers.on_tool_calls = [&](std::vector<ToolCall> calls) { asked_tools.push_back(calls); };
  auto stream = conversation.start_answer("Where is my order?", {}, handlers);
  ASSERT_TRUE(stream.ok());
  model.token("Let me look that up");
  model.end_with_tools({{"call_a", "order_status", R"({"order_id":42})"},
                        {"call_b", "weather", "{}"}});
  ASSERT_EQ(asked_tools.size(), 1u);
  ASSERT_EQ(asked_tools[0].size(), 2u);
  EXPECT_EQ(sentences, std::vector<std::string>{"Let me look that up"});  // said before the tools
  EXPECT_EQ(ends, 0);

  (*stream)->interject("One moment please.");
  ChatMessage first{"tool", R"({"status":"shipped"})"};
  first.tool_call_id = "call_a";
  ChatMessage second{"tool", R"({"error":"HTTP 500"})"};
  second.tool_call_id = "call_b";
  (*stream)->continue_with({first, second});
  ASSERT_EQ(model.streams, 2);
  ASSERT_EQ(model.asked.size(), 5u);  // system, question, the model's tool calls, two results
  EXPECT_EQ(model.asked[2].role, "assistant");
  EXPECT_EQ(model.asked[2].content, "Let me look that up");
  ASSERT_EQ(model.asked[2].tool_calls.size(), 2u);
  EXPECT_EQ(model.asked[3].tool_call_id, "call_a");
  EXPECT_EQ(model.asked[4].content, R"({"error":"HTTP 500"})");
  model.token("It shipped on Monday.");
  model.end();
  EXPECT_EQ(ends, 1);
  EXPECT_EQ(sentences, (std::vector<std::string>{"Let me look that up", "One moment please.",
                                                 "It shipped on Monday."}));
  AnswerEnd end = (*stream)->finish();
  EXPECT_EQ(end.answer.text, "Let me look that up One moment please. It shipped on Monday.");
  EXPECT_FALSE(end.answer.interrupted);
}

TEST_F(AnswerStreamTest, ToolRoundsAreBoundedAndASilentAnswerGetsTheApology) {
  HandDrivenModel model;
  Conversation conversation(model, *store, settings, "call-1", Conversation::History::kNewCall);
  int rounds = 0;
  handlers.max_tool_rounds = 1;
  handlers.on_tool_calls = [&](std::vector<ToolCall>) { ++rounds; };
  auto stream = conversation.start_answer("Loop forever", {}, handlers);
  ASSERT_TRUE(stream.ok());
  model.end_with_tools({{"call_a", "again", "{}"}});
  ChatMessage result{"tool", "{}"};
  result.tool_call_id = "call_a";
  (*stream)->continue_with({result});
  model.end_with_tools({{"call_b", "again", "{}"}});  // the bound: not run
  EXPECT_EQ(rounds, 1);
  EXPECT_EQ(ends, 1);
  EXPECT_EQ(sentences, std::vector<std::string>{kApology});  // never dead air
}

TEST_F(AnswerStreamTest, ConcludingAfterAToolEndsTheAnswerWithWhatWasSaid) {
  HandDrivenModel model;
  Conversation conversation(model, *store, settings, "call-1", Conversation::History::kNewCall);
  handlers.max_tool_rounds = 3;
  handlers.on_tool_calls = [](std::vector<ToolCall>) {};
  auto stream = conversation.start_answer("That is all, bye", {}, handlers);
  ASSERT_TRUE(stream.ok());
  model.token("Goodbye and take care.");
  model.end_with_tools({{"call_a", "end_call", "{}"}});
  EXPECT_TRUE((*stream)->said_anything());
  EXPECT_EQ(ends, 0);
  (*stream)->conclude();
  EXPECT_EQ(ends, 1);
  EXPECT_EQ(model.streams, 1);  // not asked again
  AnswerEnd end = (*stream)->finish();
  EXPECT_EQ(end.answer.text, "Goodbye and take care.");
  EXPECT_FALSE(end.answer.interrupted);
}

TEST_F(AnswerStreamTest, AToolRoundCutShortKeepsWhatWasSaid) {
  HandDrivenModel model;
  Conversation conversation(model, *store, settings, "call-1", Conversation::History::kNewCall);
  handlers.max_tool_rounds = 3;
  handlers.on_tool_calls = [](std::vector<ToolCall>) {};
  auto stream = conversation.start_answer("Where is my order?", {}, handlers);
  ASSERT_TRUE(stream.ok());
  model.token("Let me check.");
  model.end_with_tools({{"call_a", "order_status", "{}"}});
  AnswerEnd end = (*stream)->finish();  // the caller barged in while the tool ran
  EXPECT_EQ(end.answer.text, "Let me check.");
  EXPECT_TRUE(end.answer.interrupted);
  (*stream)->continue_with({});  // a result coming late starts nothing
  EXPECT_EQ(model.streams, 1);
}

}  // namespace
}  // namespace chalkbot
