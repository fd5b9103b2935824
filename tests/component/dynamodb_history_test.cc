// The DynamoDB history against a real local DynamoDB (dynalite, in memory, on loopback): the
// LangChain item shape on the wire, items LangChain wrote, TTL, and racing writers.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <set>
#include <thread>

#include "core/settings.h"
#include "store/chat_history.h"
#include "store/dynamodb.h"
#include "store/dynamodb_store.h"
#include "support/caller_memory_contract.h"
#include "support/subprocess.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

using nlohmann::json;

constexpr const char* kTable = "SessionTable";

class DynamoDbHistoryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string aws_dir = testing::tests_dir() + "/aws";
    ASSERT_EQ(std::system(("bash " + aws_dir + "/ensure_node_modules.sh").c_str()), 0)
        << "npm ci in tests/aws failed";
    dir_ = testing::make_temp_dir();
    port_ = testing::free_port();
    dynalite_ = new testing::Subprocess(
        {"node", aws_dir + "/node_modules/dynalite/cli.js", "--host", "127.0.0.1", "--port",
         std::to_string(port_), "--createTableMs", "0"},
        dir_, "dynalite");
    ASSERT_TRUE(dynalite_->started());
    DynamoDbClient client(endpoint());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (true) {
      auto reply = client.call("ListTables", json::object());
      if (reply.ok() && reply->ok()) break;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << dynalite_->output();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    auto created = client.call("CreateTable", json::parse(R"({"TableName": "SessionTable",
          "KeySchema": [{"AttributeName": "SessionId", "KeyType": "HASH"}],
          "AttributeDefinitions": [{"AttributeName": "SessionId", "AttributeType": "S"}],
          "BillingMode": "PAY_PER_REQUEST"})"));
    ASSERT_TRUE(created.ok() && created->ok()) << created->error_message;
    // A new table is CREATING at first (for dynalite, until its next timer tick).
    while (true) {
      auto described = client.call("DescribeTable", {{"TableName", kTable}});
      if (described.ok() && described->ok() &&
          described->body["Table"]["TableStatus"] == "ACTIVE") {
        break;
      }
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "table never became ACTIVE";
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  static void TearDownTestSuite() {
    delete dynalite_;
    dynalite_ = nullptr;
  }

  static DynamoDbEndpoint endpoint() {
    return {"http://127.0.0.1:" + std::to_string(port_),
            "us-east-1",
            {"AKIDTESTCHALKBOT", "test-secret-not-real", ""},
            5000};
  }

  static StoreSettings store_settings(int ttl_s = 0) {
    StoreSettings settings;
    settings.backend = "dynamodb";
    settings.dynamodb_table = kTable;
    settings.dynamodb_endpoint = endpoint().url;
    settings.dynamodb_region = "us-east-1";
    settings.dynamodb_ttl_s = ttl_s;
    settings.dynamodb_ttl_attribute = "expireAt";
    settings.dynamodb_timeout_ms = 5000;
    return settings;
  }

  static std::unique_ptr<ConversationStore> open_store(int ttl_s = 0) {
    auto store = open_dynamodb_store(store_settings(ttl_s), [](const std::string& name) {
      return name == "AWS_ACCESS_KEY_ID"       ? std::optional<std::string>("AKIDTESTCHALKBOT")
             : name == "AWS_SECRET_ACCESS_KEY" ? std::optional<std::string>("test-secret")
                                               : std::nullopt;
    });
    EXPECT_TRUE(store.ok()) << store.error().message;
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // The item exactly as DynamoDB holds it (typed attribute values).
  static json raw_item(const std::string& session) {
    auto reply =
        DynamoDbClient(endpoint())
            .call("GetItem", {{"TableName", kTable}, {"Key", {{"SessionId", {{"S", session}}}}}});
    EXPECT_TRUE(reply.ok() && reply->ok());
    return reply.ok() ? reply->body.value("Item", json()) : json();
  }

  static void raw_put(const json& item) {
    auto reply =
        DynamoDbClient(endpoint()).call("PutItem", {{"TableName", kTable}, {"Item", item}});
    ASSERT_TRUE(reply.ok() && reply->ok()) << (reply.ok() ? reply->error_message : "");
  }

  static inline std::string dir_;
  static inline int port_ = 0;
  static inline testing::Subprocess* dynalite_ = nullptr;
};

TEST_F(DynamoDbHistoryTest, TurnsRoundTripInLangChainsItemShape) {
  auto store = open_store(3600);
  ASSERT_TRUE(store);
  TurnRecord question{"round-trip", 0, "user", "What is the capital of France?", false, {}};
  question.times.asr_done = 1700000000000;
  auto first = store->append_turn(question);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(*first, 0);
  auto second = store->append_turn({"round-trip", 0, "assistant", "Paris.", false, {}});
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(*second, 1);

  const json item = raw_item("round-trip");
  ASSERT_TRUE(item.is_object());
  EXPECT_EQ(item["SessionId"], json({{"S", "round-trip"}}));
  const json& history = item["History"]["L"];
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0]["M"]["type"], json({{"S", "human"}}));
  EXPECT_EQ(history[0]["M"]["data"]["M"]["content"],
            json({{"S", "What is the capital of France?"}}));
  EXPECT_EQ(history[0]["M"]["data"]["M"]["additional_kwargs"], json({{"M", json::object()}}));
  EXPECT_EQ(history[1]["M"]["type"], json({{"S", "ai"}}));
  EXPECT_EQ(history[1]["M"]["data"]["M"]["content"], json({{"S", "Paris."}}));
  EXPECT_EQ(item["Version"], json({{"N", "2"}}));
  // TTL: epoch seconds about an hour ahead, as a number.
  const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  const long long expire = std::stoll(item["expireAt"]["N"].get<std::string>());
  EXPECT_NEAR(static_cast<double>(expire), static_cast<double>(now_s + 3600), 60.0);

  auto turns = store->turns("round-trip");
  ASSERT_TRUE(turns.ok()) << turns.error().message;
  ASSERT_EQ(turns->size(), 2u);
  EXPECT_EQ((*turns)[0].role, "user");
  EXPECT_EQ((*turns)[0].times.asr_done, 1700000000000);
  EXPECT_EQ((*turns)[1].text, "Paris.");
  EXPECT_TRUE(store->turns("never-written")->empty());
}

TEST_F(DynamoDbHistoryTest, ReadsAndExtendsAnItemLangChainWrote) {
  // What DynamoDBChatMessageHistory (boto3) writes: no Version attribute.
  const json theirs = to_attribute_value(
      {{"SessionId", "from-langchain"},
       {"History",
        {langchain_message("system", "You are helpful."),
         {{"type", "human"}, {"data", {{"content", "My name is Ada."}, {"type", "human"}}}},
         {{"type", "ai"}, {"data", {{"content", "Hello Ada."}, {"type", "ai"}}}}}}})["M"];
  raw_put(theirs);

  auto store = open_store();
  auto turns = store->turns("from-langchain");
  ASSERT_TRUE(turns.ok()) << turns.error().message;
  ASSERT_EQ(turns->size(), 2u);  // the system message is not a turn
  EXPECT_EQ((*turns)[0].text, "My name is Ada.");
  EXPECT_EQ((*turns)[1].role, "assistant");

  auto appended = store->append_turn({"from-langchain", 0, "user", "What is my name?", false, {}});
  ASSERT_TRUE(appended.ok()) << appended.error().message;
  EXPECT_EQ(*appended, 3);
  const json item = raw_item("from-langchain");
  ASSERT_EQ(item["History"]["L"].size(), 4u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(item["History"]["L"][i], theirs["History"]["L"][i]) << "message " << i << " changed";
  }
  EXPECT_EQ(item["Version"], json({{"N", "1"}}));
}

TEST_F(DynamoDbHistoryTest, CallRecordsLiveBesideTheHistory) {
  auto store = open_store();
  ASSERT_TRUE(store->begin_call({"call-record", "sip:alice@127.0.0.1", "chalkbot", 1000, {}, "", ""}));
  ASSERT_TRUE(store->append_turn({"call-record", 0, "user", "hello", false, {}}).ok());
  ASSERT_TRUE(store->end_call("call-record", 2000, "caller hung up"));
  auto call = store->call("call-record");
  ASSERT_TRUE(call.ok() && call->has_value());
  EXPECT_EQ((*call)->from, "sip:alice@127.0.0.1");
  EXPECT_EQ((*call)->ended_ms, 2000);
  EXPECT_EQ((*call)->end_reason, "caller hung up");
  EXPECT_EQ(store->turns("call-record")->size(), 1u);
  EXPECT_FALSE(store->call("no-such-call")->has_value());
  auto recent = store->recent_calls(10);
  ASSERT_TRUE(recent.ok()) << recent.error().message;
  EXPECT_FALSE(recent->empty());
}

TEST_F(DynamoDbHistoryTest, ToolCallsLiveBesideTheHistory) {
  auto store = open_store();
  ASSERT_TRUE(store->begin_call({"call-tools", "sip:alice@127.0.0.1", "chalkbot", 1000, {}, "", ""}));
  ASSERT_TRUE(store->append_turn({"call-tools", 0, "user", "where is my order", false, {}}).ok());
  ASSERT_TRUE(store->append_tool_call({"call-tools", 0, "order_status", R"({"order_id":42})",
                                       R"({"status":"shipped"})", true, 1500, 120}));
  ASSERT_TRUE(store->append_tool_call({"call-tools", 0, "end_call", "{}", "{}", true, 1700, 0}));
  ASSERT_TRUE(store->append_turn({"call-tools", 0, "assistant", "it shipped", false, {}}).ok());
  auto tools = store->tool_calls("call-tools");
  ASSERT_TRUE(tools.ok()) << tools.error().message;
  ASSERT_EQ(tools->size(), 2u);
  EXPECT_EQ((*tools)[0].name, "order_status");
  EXPECT_EQ((*tools)[0].arguments, R"({"order_id":42})");
  EXPECT_EQ((*tools)[0].duration_ms, 120);
  EXPECT_EQ((*tools)[1].index, 1);
  // LangChain's History holds the two turns only.
  EXPECT_EQ(store->turns("call-tools")->size(), 2u);
}

TEST_F(DynamoDbHistoryTest, RacingWritersLoseNothing) {
  // Separate clients, as separate Lambda instances would be, all on one session.
  constexpr int kWriters = 6;
  constexpr int kMessagesEach = 15;
  std::vector<std::unique_ptr<DynamoDbChatHistory>> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.push_back(std::make_unique<DynamoDbChatHistory>(DynamoDbClient(endpoint()),
                                                            HistoryTable{kTable, 0, "", 200}));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kMessagesEach; ++i) {
        const std::string text = "writer " + std::to_string(w) + " message " + std::to_string(i);
        if (!writers[static_cast<std::size_t>(w)]->append("race",
                                                          {langchain_message("human", text)})) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);

  std::int64_t conflicts = 0;
  for (const auto& w : writers) conflicts += w->conflicts();
  // Without lost races the test would prove nothing.
  EXPECT_GT(conflicts, 0) << "the writers never collided";

  auto loaded = writers[0]->load("race");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  ASSERT_EQ(loaded->messages.size(), static_cast<std::size_t>(kWriters * kMessagesEach))
      << conflicts << " conflicts";
  std::set<std::string> seen;
  for (const auto& message : loaded->messages) {
    seen.insert(message["data"]["content"].get<std::string>());
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kWriters * kMessagesEach));
  EXPECT_EQ(loaded->version, kWriters * kMessagesEach);
  std::cout << "racing writers: " << kWriters * kMessagesEach << " appends, " << conflicts
            << " lost races retried\n";
}

// LangChain's shape keeps a call's whole history in one item, and DynamoDB refuses an item over
// 400 KB: that turn is a rejection (the store sets it aside), and the call's history stays usable.
TEST_F(DynamoDbHistoryTest, ATurnOverTheItemSizeLimitIsRejected) {
  auto store = open_store();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->append_turn({"oversized", 0, "user", "hello", false, {}}).ok());
  const std::string huge(500 * 1024, 'x');
  auto refused = store->append_turn({"oversized", 0, "assistant", huge, false, {}});
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.error().rejected) << refused.error().message;
  EXPECT_NE(refused.error().message.find("ValidationException"), std::string::npos)
      << refused.error().message;

  auto next = store->append_turn({"oversized", 0, "assistant", "Hello there.", false, {}});
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(*next, 1);
  auto turns = store->turns("oversized");
  ASSERT_TRUE(turns.ok()) << turns.error().message;
  ASSERT_EQ(turns->size(), 2u);
  EXPECT_EQ((*turns)[1].text, "Hello there.");
}

TEST_F(DynamoDbHistoryTest, FailuresAreErrorsNamingTheCause) {
  auto settings = store_settings();
  settings.dynamodb_table = "NoSuchTable";
  auto store = open_dynamodb_store(settings, [](const std::string& name) {
    return name.rfind("AWS_", 0) == 0 ? std::optional<std::string>("x") : std::nullopt;
  });
  ASSERT_TRUE(store.ok());
  auto turns = (*store)->turns("any");
  ASSERT_FALSE(turns.ok());
  EXPECT_NE(turns.error().message.find("ResourceNotFoundException"), std::string::npos)
      << turns.error().message;
  EXPECT_FALSE(turns.error().rejected) << "a missing table may be created: worth retrying";

  DynamoDbEndpoint closed = endpoint();
  closed.url = "http://127.0.0.1:" + std::to_string(testing::free_port());
  closed.timeout_ms = 1000;
  auto reply = DynamoDbClient(closed).call("ListTables", json::object());
  EXPECT_FALSE(reply.ok());
}

// Signs like AWS checks: a verifier that recomputes SigV4 from the request (the same canonical
// request, scope and key derivation AWS documents) accepts our requests, session token included,
// and rejects a wrong secret.
TEST_F(DynamoDbHistoryTest, CallerSummariesAreAddedReadForgottenAndExpired) {
  auto store = open_store();
  ASSERT_TRUE(store);
  testing::check_caller_summaries(*store, "memory-");
  // Forgetting leaves no item behind, and the summaries never show up as a call.
  EXPECT_TRUE(raw_item("chalkbot-caller#memory-alice").is_null());
  EXPECT_TRUE(raw_item("chalkbot-caller#memory-+15551234").is_null());
  ASSERT_TRUE(store->add_summary({"memory-dave", "d1", 5000, "dave"}).ok());
  auto calls = store->recent_calls(1000);
  ASSERT_TRUE(calls.ok());
  for (const auto& call : *calls) EXPECT_FALSE(call.id.starts_with("chalkbot-caller#"));
  ASSERT_TRUE(store->forget_caller("memory-dave").ok());
  EXPECT_TRUE(raw_item("chalkbot-caller#memory-dave").is_null());
}

TEST(DynamoDbSigning, RequestsCarryAValidSigV4Signature) {
  const std::string dir = testing::make_temp_dir();
  testing::Subprocess verifier(
      {"python3", testing::tests_dir() + "/aws/sigv4_verifier.py", "--port", "0", "--access-key",
       "AKIDSIGNED", "--secret", "the-secret", "--token", "session-token"},
      dir, "verifier");
  int port = 0;
  for (int i = 0; i < 200 && port == 0; ++i) {
    const std::string out = verifier.output();
    if (const auto at = out.find("LISTENING ");
        at != std::string::npos && out.find('\n', at) != std::string::npos) {
      port = std::stoi(out.substr(at + 10));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ASSERT_NE(port, 0) << verifier.output();
  DynamoDbEndpoint endpoint{"http://127.0.0.1:" + std::to_string(port),
                            "eu-west-1",
                            {"AKIDSIGNED", "the-secret", "session-token"},
                            5000};
  // Big enough that curl would otherwise ask for 100-continue.
  const json request{{"Limit", 10}, {"Padding", std::string(4000, 'x')}};
  auto signed_ok = DynamoDbClient(endpoint).call("ListTables", request);
  ASSERT_TRUE(signed_ok.ok()) << signed_ok.error().message;
  EXPECT_TRUE(signed_ok->ok()) << signed_ok->error_type << ": " << signed_ok->error_message;

  endpoint.credentials.secret_access_key = "not-the-secret";
  auto wrong = DynamoDbClient(endpoint).call("ListTables", request);
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->error_type, "InvalidSignatureException");
}

}  // namespace
}  // namespace chalkbot
