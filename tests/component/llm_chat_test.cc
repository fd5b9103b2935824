// The streaming chat client against the local stand-in: real HTTP, SSE and injected faults.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <fstream>
#include <thread>

#include "core/clock.h"
#include "core/settings.h"
#include <nlohmann/json.hpp>

#include "llm/chat_model.h"
#include "support/standin.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

using testing::Standin;
using testing::threads_in_process;

constexpr const char* kKey = "sk-test-secret-key-1234567890";

LlmSettings settings_for(const Standin& standin) {
  LlmSettings s;
  s.base_url = standin.base_url();
  s.api_key = kKey;
  s.model = "standin-model";
  s.system_prompt = "You are a phone agent.";
  s.temperature = 0.5;
  s.connect_timeout_ms = 1000;
  s.first_token_timeout_ms = 2000;
  s.total_timeout_ms = 4000;
  s.max_retries = 2;
  s.retry_budget_ms = 3000;
  return s;
}

std::unique_ptr<ChatModel> model_for(const LlmSettings& s) {
  auto model = make_chat_model(s);
  if (!model) ADD_FAILURE() << model.error().message;
  return model ? std::move(model.value()) : nullptr;
}

const std::vector<ChatMessage> kOneTurn = {{"user", "Hello?"}};
const TokenSink kIgnore = [](std::string_view) { return true; };

TEST(LlmChat, StreamsTokensIncrementally) {
  Standin standin({"--tokens-per-sec", "50"});
  auto model = model_for(settings_for(standin));
  std::vector<double> arrivals;
  std::string joined;
  const auto start = SteadyClock::now();
  auto reply = model->stream(kOneTurn, [&](std::string_view delta) {
    arrivals.push_back(elapsed_ms(start));
    joined += delta;
    return true;
  }, CancelToken{});
  const double total = elapsed_ms(start);
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->text, "I heard you. You have told me 0 things before this.");
  EXPECT_EQ(joined, reply->text);
  EXPECT_FALSE(reply->stopped);
  EXPECT_EQ(reply->attempts, 1);
  // 11 words at 50/s: the first arrives long before the last, i.e. not buffered to the end.
  ASSERT_GE(arrivals.size(), 10U);
  EXPECT_LT(arrivals.front(), total - 120);
  EXPECT_GT(arrivals.back() - arrivals.front(), 150);

  const auto seen = standin.requests();
  ASSERT_EQ(seen.size(), 1U);
  const auto& body = seen[0]["body"];
  EXPECT_EQ(seen[0]["path"], "/v1/chat/completions");
  EXPECT_EQ(seen[0]["authorization"], std::string("Bearer ") + kKey);
  EXPECT_EQ(body["model"], "standin-model");
  EXPECT_EQ(body["stream"], true);
  EXPECT_DOUBLE_EQ(body["temperature"].get<double>(), 0.5);
  EXPECT_FALSE(body.contains("max_tokens"));  // 0 means "not sent"
  ASSERT_EQ(body["messages"].size(), 2U);
  EXPECT_EQ(body["messages"][0]["role"], "system");
  EXPECT_EQ(body["messages"][1]["content"], "Hello?");
}

TEST(LlmChat, ReplyProvesMemoryAndFollowsTheScript) {
  const std::string dir = testing::make_temp_dir();
  std::ofstream(dir + "/script.json")
      << R"({"rules":[{"match":"WEATHER","reply":"Sunny, turn {user_turns_before}."}],)"
      << R"("default":"You said {last_user}; {user_turns_before} before."})";
  Standin standin({"--script", dir + "/script.json"});
  auto s = settings_for(standin);
  s.max_tokens = 64;
  auto model = model_for(s);
  const std::vector<ChatMessage> history = {{"user", "one"}, {"assistant", "ok"},
                                            {"user", "two"}, {"assistant", "ok"},
                                            {"user", "and the weather?"}};
  auto reply = model->stream(history, kIgnore, CancelToken{});
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->text, "Sunny, turn 2.");
  auto other = model->stream({{"user", "bananas"}}, kIgnore, CancelToken{});
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_EQ(other->text, "You said bananas; 0 before.");
  EXPECT_EQ(standin.requests()[0]["body"]["max_tokens"], 64);
}

// The stand-in streams the calls' first pieces, then their arguments in pieces interleaved
// across SSE events; the text before them still reaches the sink.
TEST(LlmChat, StreamedToolCallsArriveWholeAndTheirResultsGoBack) {
  const std::string dir = testing::make_temp_dir();
  std::ofstream(dir + "/script.json")
      << R"({"rules":[{"match":"person","reply":"One moment.","after_tools":"Done: {last_tool}",)"
      << R"("tool_calls":[{"name":"transfer_to_person","arguments":{"reason":"billing question"}},)"
      << R"({"name":"end_call","arguments":{}}]}]})";
  Standin standin({"--script", dir + "/script.json"});
  auto made = make_chat_model(settings_for(standin),
                              {{"transfer_to_person", "Hand over to a person.",
                                R"({"type":"object","properties":{"reason":{"type":"string"}}})"},
                               {"end_call", "Say goodbye and hang up.", ""}});
  ASSERT_TRUE(made) << made.error().message;
  ChatModel& model = **made;

  std::string spoken;
  const std::vector<ChatMessage> ask = {{"user", "a person please"}};
  auto reply = model.stream(ask, [&](std::string_view d) { spoken += d; return true; },
                            CancelToken{});
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(spoken, "One moment.");
  ASSERT_EQ(reply->tool_calls.size(), 2u);
  EXPECT_EQ(reply->tool_calls[0].name, "transfer_to_person");
  EXPECT_EQ(nlohmann::json::parse(reply->tool_calls[0].arguments),
            nlohmann::json({{"reason", "billing question"}}));
  EXPECT_EQ(reply->tool_calls[1].name, "end_call");
  EXPECT_EQ(reply->tool_calls[1].arguments, "{}");
  EXPECT_NE(reply->tool_calls[0].id, reply->tool_calls[1].id);

  std::vector<ChatMessage> follow_up = ask;
  ChatMessage asked{"assistant", reply->text};
  asked.tool_calls = reply->tool_calls;
  follow_up.push_back(asked);
  for (const ToolCall& call : reply->tool_calls) {
    ChatMessage result{"tool", call.name + " ok"};
    result.tool_call_id = call.id;
    follow_up.push_back(result);
  }
  auto after = model.stream(follow_up, kIgnore, CancelToken{});
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_TRUE(after->tool_calls.empty());
  EXPECT_EQ(after->text, "Done: end_call ok");

  const nlohmann::json requests = standin.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0]["body"]["tools"][0]["function"]["name"], "transfer_to_person");
  const nlohmann::json& sent = requests[1]["body"]["messages"];
  EXPECT_EQ(sent[2]["tool_calls"][0]["id"], reply->tool_calls[0].id);
  EXPECT_EQ(sent[3]["role"], "tool");
  EXPECT_EQ(sent[3]["tool_call_id"], reply->tool_calls[0].id);
}

TEST(LlmChat, RetriesA429AfterItsFractionalRetryAfter) {
  Standin standin({"--retry-after", "0.4"});
  standin.push_faults({"429"});
  auto model = model_for(settings_for(standin));
  const auto start = SteadyClock::now();
  auto reply = model->stream(kOneTurn, kIgnore, CancelToken{});
  const double ms = elapsed_ms(start);
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->attempts, 2);
  EXPECT_GE(ms, 400);   // the wait was honoured ...
  EXPECT_LT(ms, 1000);  // ... and not the default backoff schedule on top
  EXPECT_EQ(standin.requests().size(), 2U);
}

TEST(LlmChat, RetriesA429AfterAnIntegerRetryAfter) {
  Standin standin({"--retry-after", "1"});
  standin.push_faults({"429"});
  auto model = model_for(settings_for(standin));
  const auto start = SteadyClock::now();
  auto reply = model->stream(kOneTurn, kIgnore, CancelToken{});
  const double ms = elapsed_ms(start);
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->attempts, 2);
  EXPECT_GE(ms, 1000);
  EXPECT_LT(ms, 1700);
}

TEST(LlmChat, RetriesServerErrorsThenSucceeds) {
  Standin standin;
  standin.push_faults({"500", "503"});
  auto model = model_for(settings_for(standin));
  auto reply = model->stream(kOneTurn, kIgnore, CancelToken{});
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->attempts, 3);
  EXPECT_EQ(reply->text, "I heard you. You have told me 0 things before this.");
}

TEST(LlmChat, GivesUpAfterMaxRetriesNamingTheStatus) {
  Standin standin({"--fault", "500"});
  auto s = settings_for(standin);
  s.max_retries = 1;
  auto model = model_for(s);
  auto reply = model->stream(kOneTurn, kIgnore, CancelToken{});
  ASSERT_FALSE(reply);
  EXPECT_NE(reply.error().message.find("HTTP 500"), std::string::npos) << reply.error().message;
  EXPECT_NE(reply.error().message.find("The server had an error"), std::string::npos);
  EXPECT_EQ(reply.error().kind, ErrorKind::kServerError);
  EXPECT_EQ(standin.requests().size(), 2U);
}

TEST(LlmChat, UnauthorizedIsNotRetriedAndTheKeyIsNotEchoed) {
  Standin standin({"--fault", "401"});
  auto model = model_for(settings_for(standin));
  auto reply = model->stream(kOneTurn, kIgnore, CancelToken{});
  ASSERT_FALSE(reply);
  const auto& message = reply.error().message;
  EXPECT_NE(message.find("HTTP 401"), std::string::npos) << message;
  EXPECT_NE(message.find("Incorrect API key provided"), std::string::npos) << message;
  EXPECT_EQ(message.find(kKey), std::string::npos) << message;  // the server echoed it
  EXPECT_EQ(message.find("secret"), std::string::npos) << message;
  EXPECT_EQ(reply.error().kind, ErrorKind::kAuth);
  EXPECT_EQ(standin.requests().size(), 1U);
}

TEST(LlmChat, InsufficientQuotaIsNotRetried) {
  Standin standin({"--fault", "insufficient_quota"});
  auto model = model_for(settings_for(standin));
  auto reply = model->stream(kOneTurn, kIgnore, CancelToken{});
  ASSERT_FALSE(reply);
  EXPECT_NE(reply.error().message.find("insufficient_quota"), std::string::npos);
  EXPECT_NE(reply.error().message.find("HTTP 429"), std::string::npos);
  EXPECT_EQ(standin.requests().size(), 1U);
  EXPECT_EQ(reply.error().kind, ErrorKind::kQuota);
}

TEST(LlmChat, HangHitsTheFirstTokenTimeout) {
  Standin standin({"--fault", "hang"});
  auto s = settings_for(standin);
  s.first_token_timeout_ms = 300;
  s.max_retries = 0;
  auto model = model_for(s);
  const auto start = SteadyClock::now();
  auto reply = model->stream(kOneTurn, kIgnore, CancelToken{});
  const double ms = elapsed_ms(start);
  ASSERT_FALSE(reply);
  EXPECT_NE(reply.error().message.find("first-token timeout"), std::string::npos)
      << reply.error().message;
  EXPECT_EQ(reply.error().kind, ErrorKind::kTimeout);
  EXPECT_GE(ms, 300);
  EXPECT_LT(ms, 600);
}

TEST(LlmChat, HangBeforeAnyTokenIsRetried) {
  Standin standin;
  standin.push_faults({"hang"});
  auto s = settings_for(standin);
  s.first_token_timeout_ms = 200;
  auto model = model_for(s);
  auto reply = model->stream(kOneTurn, kIgnore, CancelToken{});
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->attempts, 2);
}

TEST(LlmChat, HangAfterFirstTokenHitsTheTotalTimeoutWithoutRetry) {
  Standin standin({"--fault", "hang_after_first_token"});
  auto s = settings_for(standin);
  s.first_token_timeout_ms = 200;
  s.total_timeout_ms = 600;
  auto model = model_for(s);
  std::string seen;
  const auto start = SteadyClock::now();
  auto reply = model->stream(kOneTurn, [&](std::string_view d) {
    seen += d;
    return true;
  }, CancelToken{});
  const double ms = elapsed_ms(start);
  ASSERT_FALSE(reply);
  EXPECT_NE(reply.error().message.find("total timeout"), std::string::npos)
      << reply.error().message;
  EXPECT_EQ(reply.error().kind, ErrorKind::kTimeout);
  EXPECT_EQ(seen, "I");
  EXPECT_GE(ms, 600);
  EXPECT_LT(ms, 1000);
  EXPECT_EQ(standin.requests().size(), 1U);  // a token was spoken: never retried
}

TEST(LlmChat, ResetMidStreamIsAnError) {
  Standin standin({"--fault", "reset"});
  auto model = model_for(settings_for(standin));
  std::string seen;
  auto reply = model->stream(kOneTurn, [&](std::string_view d) {
    seen += d;
    return true;
  }, CancelToken{});
  ASSERT_FALSE(reply);
  EXPECT_NE(reply.error().message.find("before [DONE]"), std::string::npos)
      << reply.error().message;
  EXPECT_EQ(reply.error().kind, ErrorKind::kReset);
  EXPECT_EQ(seen, "I heard");
  EXPECT_EQ(standin.requests().size(), 1U);
}

TEST(LlmChat, MalformedEventIsAnError) {
  Standin standin({"--fault", "malformed"});
  auto model = model_for(settings_for(standin));
  auto reply = model->stream(kOneTurn, kIgnore, CancelToken{});
  ASSERT_FALSE(reply);
  EXPECT_NE(reply.error().message.find("malformed event JSON"), std::string::npos)
      << reply.error().message;
  EXPECT_EQ(reply.error().kind, ErrorKind::kMalformed);
}

TEST(LlmChat, CancelMidStreamReturnsPromptly) {
  Standin standin({"--tokens-per-sec", "5"});
  auto model = model_for(settings_for(standin));
  CancelToken cancel;
  std::atomic<int> tokens{0};
  SteadyClock::time_point cancelled_at;
  std::thread canceller([&] {
    while (tokens.load() < 2) std::this_thread::sleep_for(Millis(5));
    cancelled_at = SteadyClock::now();
    cancel.cancel();
  });
  auto reply = model->stream(kOneTurn, [&](std::string_view) {
    ++tokens;
    return true;
  }, cancel);
  const auto returned = SteadyClock::now();
  canceller.join();
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_TRUE(reply->stopped);
  EXPECT_EQ(reply->text, "I heard");
  // Tokens come every 200 ms; the cancel must not wait for the next one.
  using Ms = std::chrono::duration<double, std::milli>;
  EXPECT_LT(Ms(returned - cancelled_at).count(), 60);
}

TEST(LlmChat, SinkReturningFalseStops) {
  Standin standin;
  auto model = model_for(settings_for(standin));
  auto reply = model->stream(kOneTurn, [](std::string_view) { return false; }, CancelToken{});
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_TRUE(reply->stopped);
  EXPECT_EQ(reply->text, "I");
}

TEST(LlmChat, RetryAfterBeyondTheBudgetFailsAtOnce) {
  Standin standin({"--retry-after", "30"});
  standin.push_faults({"429"});
  auto s = settings_for(standin);
  s.retry_budget_ms = 1000;
  auto model = model_for(s);
  const auto start = SteadyClock::now();
  auto reply = model->stream(kOneTurn, kIgnore, CancelToken{});
  ASSERT_FALSE(reply);
  EXPECT_LT(elapsed_ms(start), 300);
  EXPECT_NE(reply.error().message.find("beyond the remaining retry budget"), std::string::npos)
      << reply.error().message;
  EXPECT_NE(reply.error().message.find("HTTP 429"), std::string::npos);
  EXPECT_EQ(reply.error().kind, ErrorKind::kRateLimited);
}

TEST(LlmChat, ConnectionRefusedIsRetriedThenReported) {
  LlmSettings s;
  s.base_url = "http://127.0.0.1:1/v1";
  s.model = "m";
  s.connect_timeout_ms = 500;
  s.max_retries = 1;
  auto model = model_for(s);
  auto reply = model->stream(kOneTurn, kIgnore, CancelToken{});
  ASSERT_FALSE(reply);
  EXPECT_NE(reply.error().message.find("cannot connect"), std::string::npos)
      << reply.error().message;
  EXPECT_NE(reply.error().message.find("after 2 attempts"), std::string::npos);
  EXPECT_EQ(reply.error().kind, ErrorKind::kConnect);
}

// A caller who hangs up while the client waits out a Retry-After stops the wait at once.
TEST(LlmChat, CancelDuringARetryWaitStopsIt) {
  Standin standin({"--retry-after", "30"});
  standin.push_faults({"429"});
  auto s = settings_for(standin);
  s.retry_budget_ms = 0;  // no budget: the 30 s wait would be honoured in full
  auto model = model_for(s);
  CancelToken cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(Millis(200));
    cancel.cancel();
  });
  const auto start = SteadyClock::now();
  auto reply = model->stream(kOneTurn, kIgnore, cancel);
  const double ms = elapsed_ms(start);
  canceller.join();
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_TRUE(reply->stopped);
  EXPECT_TRUE(reply->text.empty());
  EXPECT_LT(ms, 2000);
  EXPECT_EQ(standin.requests().size(), 1U);
}

TEST(LlmChat, ConcurrentStreamsShareOneModel) {
  Standin standin({"--tokens-per-sec", "100"});
  auto model = model_for(settings_for(standin));
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<ChatMessage> history;
      for (int i = 0; i <= t; ++i) history.push_back({"user", "turn"});
      auto reply = model->stream(history, kIgnore, CancelToken{});
      if (reply && reply->text == "I heard you. You have told me " + std::to_string(t) +
                                      " things before this.") {
        ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 4);
}

// Streams started with start_stream run on the process's HTTP engine: 40 at once add no thread.
TEST(LlmChat, StartedStreamsAddNoThreads) {
  Standin standin({"--tokens-per-sec", "40"});
  auto model = model_for(settings_for(standin));
  ASSERT_TRUE(model->stream(kOneTurn, kIgnore, CancelToken{}));  // the engine is running
  constexpr int kStreams = 40;
  std::mutex mutex;
  std::condition_variable changed;
  int ended = 0;
  int good = 0;
  int begun = 0;
  std::vector<std::unique_ptr<ChatStream>> streams;
  const std::size_t threads_before = threads_in_process();
  for (int i = 0; i < kStreams; ++i) {
    auto first = std::make_shared<bool>(true);
    streams.push_back(model->start_stream(
        kOneTurn,
        [&, first](std::string_view) {
          const std::lock_guard lock(mutex);
          if (std::exchange(*first, false)) ++begun;
          changed.notify_all();
          return true;
        },
        [&](Result<ChatReply> reply) {
          const std::lock_guard lock(mutex);
          ++ended;
          if (reply && reply->text == "I heard you. You have told me 0 things before this.") ++good;
          changed.notify_all();
        }));
  }
  std::unique_lock lock(mutex);
  ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(20), [&] { return begun == kStreams; }));
  EXPECT_LT(ended, kStreams);  // still streaming
  EXPECT_EQ(threads_in_process(), threads_before);
  ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(20), [&] { return ended == kStreams; }));
  EXPECT_EQ(good, kStreams);
}

TEST(LlmChat, PerRequestOverheadFigure) {
  Standin standin;
  auto model = model_for(settings_for(standin));
  constexpr int kRuns = 30;
  const auto start = SteadyClock::now();
  for (int i = 0; i < kRuns; ++i) ASSERT_TRUE(model->stream(kOneTurn, kIgnore, CancelToken{}));
  const double per_request = elapsed_ms(start) / kRuns;
  RecordProperty("ms_per_request", std::to_string(per_request));
  std::printf("chat round trip against the stand-in: %.2f ms per request\n", per_request);
  EXPECT_LT(per_request, 100);
}

}  // namespace
}  // namespace chalkbot
