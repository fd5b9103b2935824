// The ConversationStore contract, run against every backend: SQLite (a file) and PostgreSQL (a
// real server started by tests/support/pg_test_server.sh). CTest starts one server for all these
// tests (fixture postgres_test_server); run alone, the binary starts its own.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/settings.h"
#include "store/buffered_store.h"
#include "store/conversation_store.h"
#include "store/postgres_store.h"
#include "support/caller_memory_contract.h"
#include "support/store_records.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

std::string pg_script() { return testing::tests_dir() + "/support/pg_test_server.sh"; }

// Runs a shell command, returning its first output line ("" on failure).
std::string first_line_of(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  char line[512] = {};
  std::string out = fgets(line, sizeof line, pipe) != nullptr ? line : "";
  if (pclose(pipe) != 0) return "";
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// The PostgreSQL server these tests share: CTest's (its URL file in CHALKBOT_TEST_PG_DIR) or one
// this process starts and stops.
class PostgresServer {
 public:
  static PostgresServer& get() {
    static PostgresServer server;
    return server;
  }
  bool binaries_installed() const { return installed_; }
  const std::string& url() const { return url_; }
  const std::string& problem() const { return problem_; }

  ~PostgresServer() {
    if (!own_dir_.empty()) std::system(("'" + pg_script() + "' stop '" + own_dir_ + "'").c_str());
  }

 private:
  PostgresServer() {
    installed_ = !first_line_of("'" + pg_script() + "' bin").empty();
    if (!installed_) return;
    if (const char* dir = std::getenv("CHALKBOT_TEST_PG_DIR"); dir != nullptr && *dir != '\0') {
      std::ifstream in(std::string(dir) + "/url");
      std::getline(in, url_);
      if (url_.empty()) problem_ = std::string("no server URL in ") + dir + "/url";
      return;
    }
    own_dir_ = testing::make_temp_dir() + "/pg";
    url_ = first_line_of("'" + pg_script() + "' start '" + own_dir_ + "'");
    if (url_.empty()) problem_ = "pg_test_server.sh start failed (see its output above)";
  }

  bool installed_ = false;
  std::string url_;
  std::string own_dir_;
  std::string problem_;
};

// Runs SQL on the test server outside the store; returns the first value or an error text.
std::string pg_exec(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  std::string out;
  if (PQstatus(conn) != CONNECTION_OK) {
    out = std::string("connect failed: ") + PQerrorMessage(conn);
  } else {
    PGresult* r = PQexec(conn, sql.c_str());
    const auto status = PQresultStatus(r);
    if (status == PGRES_TUPLES_OK && PQntuples(r) > 0) {
      out = PQgetvalue(r, 0, 0);
    } else if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      out = std::string("error: ") + PQresultErrorMessage(r);
    }
    PQclear(r);
  }
  PQfinish(conn);
  return out;
}

using testing::make_call;
using testing::make_turn;

std::string backend_name(const ::testing::TestParamInfo<std::string>& param) { return param.param; }

class StoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = testing::make_temp_dir();
    settings_.backend = GetParam();
    settings_.path = dir_ + "/chalkbot.db";
    settings_.postgres_pool_size = 3;
    settings_.postgres_retry_ms = 3000;
    if (GetParam() == "postgres") {
      auto& server = PostgresServer::get();
      if (!server.binaries_installed()) {
        GTEST_SKIP() << "PostgreSQL server binaries are not installed (apt install postgresql): "
                        "the postgres backend was NOT tested";
      }
      ASSERT_TRUE(server.problem().empty()) << server.problem();
      settings_.postgres_url = server.url();
      // Every test starts from an empty database.
      ASSERT_EQ(pg_exec(server.url(), "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public"),
                "");
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<ConversationStore> open() {
    auto store = make_store(settings_);
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message);
    return store.ok() ? std::move(store).value() : nullptr;
  }

  std::string dir_;
  StoreSettings settings_;
};

TEST_P(StoreContract, RoundTripOfCallsTurnsAndStageTimes) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->begin_call(make_call("c1", 1000)).ok());
  ASSERT_TRUE(store->begin_call(make_call("c2", 2000)).ok());
  EXPECT_FALSE(store->begin_call(make_call("c1", 3000)).ok());  // ids are unique

  TurnRecord user = make_turn("c1", "user", "what's the weather");
  user.times.speech_start = 1100;
  user.times.speech_end = 1900;
  user.times.endpoint = 2300;
  user.times.asr_done = 2450;
  TurnRecord bot = make_turn("c1", "assistant", "Sunny, mostly.");
  bot.interrupted = true;
  bot.times.llm_first_token = 2700;
  bot.times.first_sentence = 2800;
  bot.times.tts_first_audio = 2830;
  bot.times.first_rtp_out = 2850;
  bot.times.done = 1764633600000;  // epoch milliseconds need 64 bits
  auto i0 = store->append_turn(user);
  auto i1 = store->append_turn(bot);
  ASSERT_TRUE(i0.ok() && i1.ok());
  EXPECT_EQ(*i0, 0);
  EXPECT_EQ(*i1, 1);
  EXPECT_EQ(*store->append_turn(make_turn("c2", "user", "hi")), 0);  // per-call numbering

  auto turns = store->turns("c1");
  ASSERT_TRUE(turns.ok());
  ASSERT_EQ(turns->size(), 2U);
  const TurnRecord& t0 = (*turns)[0];
  const TurnRecord& t1 = (*turns)[1];
  EXPECT_EQ(t0.call_id, "c1");
  EXPECT_EQ(t0.index, 0);
  EXPECT_EQ(t0.role, "user");
  EXPECT_EQ(t0.text, "what's the weather");
  EXPECT_FALSE(t0.interrupted);
  EXPECT_EQ(t0.times.speech_start, 1100);
  EXPECT_EQ(t0.times.speech_end, 1900);
  EXPECT_EQ(t0.times.endpoint, 2300);
  EXPECT_EQ(t0.times.asr_done, 2450);
  EXPECT_FALSE(t0.times.llm_first_token.has_value());
  EXPECT_FALSE(t0.times.done.has_value());
  EXPECT_EQ(t1.index, 1);
  EXPECT_TRUE(t1.interrupted);
  EXPECT_FALSE(t1.times.speech_start.has_value());
  EXPECT_EQ(t1.times.llm_first_token, 2700);
  EXPECT_EQ(t1.times.first_sentence, 2800);
  EXPECT_EQ(t1.times.tts_first_audio, 2830);
  EXPECT_EQ(t1.times.first_rtp_out, 2850);
  EXPECT_EQ(t1.times.done, 1764633600000);

  auto live = store->call("c1");
  ASSERT_TRUE(live.ok() && live->has_value());
  EXPECT_FALSE((*live)->ended_ms.has_value());
  EXPECT_EQ((*live)->end_reason, "");
  ASSERT_TRUE(store->end_call("c1", 5000, "caller hung up").ok());
  EXPECT_FALSE(store->end_call("nope", 5000, "x").ok());
  auto ended = store->call("c1");
  ASSERT_TRUE(ended.ok() && ended->has_value());
  EXPECT_EQ((*ended)->from, "sip:alice@example.com");
  EXPECT_EQ((*ended)->to, "sip:bot@example.com");
  EXPECT_EQ((*ended)->started_ms, 1000);
  EXPECT_EQ((*ended)->ended_ms, 5000);
  EXPECT_EQ((*ended)->end_reason, "caller hung up");
  auto missing = store->call("nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  auto recent = store->recent_calls(10);
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 2U);
  EXPECT_EQ((*recent)[0].id, "c2");  // newest first
  EXPECT_EQ((*recent)[1].id, "c1");
  auto one = store->recent_calls(1);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1U);
  EXPECT_EQ((*one)[0].id, "c2");
}

TEST_P(StoreContract, CallsArePagedNewestFirstAndCounted) {
  auto store = open();
  ASSERT_TRUE(store);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store->begin_call(make_call("c" + std::to_string(i), 1000 + i)).ok());
  }
  auto count = store->count_calls();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 5);
  auto first = store->list_calls(0, 2);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 2U);
  EXPECT_EQ((*first)[0].id, "c4");
  EXPECT_EQ((*first)[1].id, "c3");
  auto last = store->list_calls(4, 2);
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(last->size(), 1U);
  EXPECT_EQ((*last)[0].id, "c0");
  auto beyond = store->list_calls(10, 2);
  ASSERT_TRUE(beyond.ok());
  EXPECT_TRUE(beyond->empty());
  EXPECT_FALSE(store->list_calls(-1, 2).ok());
}

// Every tool the model called: a row with its arguments, result, outcome and duration, numbered
// within the call, in single writes and in a batch (as BufferedStore hands them over).
TEST_P(StoreContract, ToolCallsAreStoredInOrderWithTheirOutcome) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->begin_call(make_call("c1", 1000)).ok());
  ToolCallRecord first{"c1", 0, "transfer_to_person", R"({"reason":"billing"})",
                       R"({"result":"the caller is transferred"})", true, 1500, 2};
  ASSERT_TRUE(store->append_tool_call(first).ok());
  ToolCallRecord failed{"c1", 0, "order_status", R"({"order_id":42})",
                        R"({"error":"the tool did not answer within 400 ms"})", false, 1600, 401};
  ToolCallRecord again = failed;
  again.ok = true;
  again.result = R"({"status":"shipped"})";
  const std::vector<StoreWrite> batch{failed, again};
  ASSERT_TRUE(store->write_batch(std::span(batch).first(store->max_batch() > 1 ? 2 : 1)).ok());
  if (store->max_batch() == 1) {
    ASSERT_TRUE(store->write_batch(std::span(batch).last(1)).ok());
  }
  auto tools = store->tool_calls("c1");
  ASSERT_TRUE(tools.ok()) << tools.error().message;
  ASSERT_EQ(tools->size(), 3u);
  EXPECT_EQ((*tools)[0].index, 0);
  EXPECT_EQ((*tools)[0].name, "transfer_to_person");
  EXPECT_EQ((*tools)[0].arguments, R"({"reason":"billing"})");
  EXPECT_TRUE((*tools)[0].ok);
  EXPECT_EQ((*tools)[1].index, 1);
  EXPECT_FALSE((*tools)[1].ok);
  EXPECT_EQ((*tools)[1].result, R"({"error":"the tool did not answer within 400 ms"})");
  EXPECT_EQ((*tools)[1].started_ms, 1600);
  EXPECT_EQ((*tools)[1].duration_ms, 401);
  EXPECT_EQ((*tools)[2].index, 2);
  EXPECT_TRUE((*tools)[2].ok);
  EXPECT_TRUE(store->tool_calls("c2")->empty());
  const auto unknown = store->append_tool_call({"ghost", 0, "end_call", "{}", "{}", true, 1, 1});
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(unknown.error().rejected) << unknown.error().message;
}

TEST_P(StoreContract, TurnOfAnUnknownCallIsRefused) {
  auto store = open();
  ASSERT_TRUE(store);
  auto refused = store->append_turn(make_turn("ghost", "user", "boo"));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("ghost"), std::string::npos) << refused.error().message;
  // Refused for good (BufferedStore sets it aside instead of retrying it forever).
  EXPECT_TRUE(refused.error().rejected) << refused.error().message;
  const auto unknown_end = store->end_call("ghost", 2000, "caller_goodbye");
  ASSERT_FALSE(unknown_end.ok());
  EXPECT_TRUE(unknown_end.error().rejected) << unknown_end.error().message;
}

TEST_P(StoreContract, ASecondCallWithTheSameIdIsRejected) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->begin_call({"twice", "sip:a@x", "sip:bot@x", 1000, {}, "", ""}));
  const auto again = store->begin_call({"twice", "sip:b@x", "sip:bot@x", 2000, {}, "", ""});
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(again.error().rejected) << again.error().message;
}

// A batch is all or nothing: the backends with transactions store every write of it, in order,
// or none when one of them is refused; the others take one write at a time.
TEST_P(StoreContract, ABatchIsStoredWhollyOrNotAtAll) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::vector<StoreWrite> good{
      CallRecord{"batched", "sip:a@x", "sip:bot@x", 1000, {}, "", ""},
      make_turn("batched", "user", "one"), make_turn("batched", "assistant", "two"),
      CallEnd{"batched", 2000, "caller_goodbye"}};
  if (store->max_batch() < good.size()) {
    EXPECT_FALSE(store->write_batch(good).ok());  // more than it takes: refused, nothing stored
    EXPECT_FALSE((*store->call("batched")).has_value());
    return;
  }
  ASSERT_TRUE(store->write_batch(good));
  auto turns = store->turns("batched");
  ASSERT_TRUE(turns);
  ASSERT_EQ(turns->size(), 2U);
  EXPECT_EQ((*turns)[1].text, "two");
  EXPECT_EQ((*store->call("batched"))->end_reason, "caller_goodbye");

  // The last write refers to a call that does not exist: the turn before it is not kept either.
  const std::vector<StoreWrite> bad{make_turn("batched", "user", "three"),
                                    CallEnd{"ghost", 3000, "caller_goodbye"}};
  const Status refused = store->write_batch(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.error().rejected) << refused.error().message;
  EXPECT_EQ(store->turns("batched")->size(), 2U);
}

TEST_P(StoreContract, ReopenPersists) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->begin_call(make_call("c1", 1000)).ok());
    ASSERT_TRUE(store->append_turn(make_turn("c1", "user", "one")).ok());
  }
  auto store = open();
  ASSERT_TRUE(store);
  auto turns = store->turns("c1");
  ASSERT_TRUE(turns.ok());
  ASSERT_EQ(turns->size(), 1U);
  EXPECT_EQ((*turns)[0].text, "one");
  EXPECT_EQ(*store->append_turn(make_turn("c1", "assistant", "two")), 1);  // numbering goes on
}

// Two stores on one database stand for two nodes: each sees the other's calls and where they
// are held, and appends to one call from both get unique consecutive indexes.
TEST_P(StoreContract, NodesSharingTheStoreSeeEveryCallAndWhereItIsHeld) {
  auto node_a = open();
  auto node_b = open();
  ASSERT_TRUE(node_a && node_b);
  ASSERT_TRUE(node_a->begin_call(make_call("on-a", 1000, "host-a:5060")).ok());
  ASSERT_TRUE(node_b->begin_call(make_call("on-b", 2000, "host-b:5060")).ok());
  for (auto* store : {node_a.get(), node_b.get()}) {
    auto calls = store->recent_calls(10);
    ASSERT_TRUE(calls.ok());
    ASSERT_EQ(calls->size(), 2U);
    EXPECT_EQ((*calls)[0].id, "on-b");
    EXPECT_EQ((*calls)[0].node, "host-b:5060");
    EXPECT_EQ((*calls)[1].node, "host-a:5060");
  }
  auto seen = node_b->call("on-a");
  ASSERT_TRUE(seen.ok() && seen->has_value());
  EXPECT_EQ((*seen)->node, "host-a:5060");

  constexpr int kPerNode = 20;
  std::vector<std::thread> writers;
  for (auto* store : {node_a.get(), node_b.get()}) {
    writers.emplace_back([store] {
      for (int i = 0; i < kPerNode; ++i) (void)store->append_turn(make_turn("on-a", "user", "x"));
    });
  }
  for (auto& w : writers) w.join();
  auto turns = node_a->turns("on-a");
  ASSERT_TRUE(turns.ok());
  ASSERT_EQ(turns->size(), static_cast<std::size_t>(2 * kPerNode));
  for (std::size_t i = 0; i < turns->size(); ++i) EXPECT_EQ((*turns)[i].index, static_cast<int>(i));
}

TEST_P(StoreContract, ConcurrentAppendsGetUniqueConsecutiveIndexes) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->begin_call(make_call("c", 1)).ok());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 15;
  std::vector<std::vector<int>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&store, &got, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto index = store->append_turn(make_turn("c", "user", std::to_string(t)));
        got[static_cast<std::size_t>(t)].push_back(index.ok() ? *index : -1);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<int> all;
  for (const auto& v : got) all.insert(v.begin(), v.end());
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(*all.begin(), 0);
  EXPECT_EQ(*all.rbegin(), kThreads * kPerThread - 1);
  auto turns = store->turns("c");
  ASSERT_TRUE(turns.ok());
  ASSERT_EQ(turns->size(), static_cast<std::size_t>(kThreads * kPerThread));
  for (std::size_t i = 0; i < turns->size(); ++i) EXPECT_EQ((*turns)[i].index, static_cast<int>(i));
}

TEST_P(StoreContract, TurnSurvivesTheProcessDyingRightAfterAppend) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->begin_call(make_call("c", 1)).ok());
  }  // closed: no connection crosses the fork
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = make_store(settings_);
    if (!store.ok()) _exit(2);
    auto index = (*store)->append_turn(make_turn("c", "user", "I said this before dying"));
    if (!index.ok()) _exit(3);
    (void)store->release();  // never closed: the connection dies with the process
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  auto store = open();
  ASSERT_TRUE(store);
  auto turns = store->turns("c");
  ASSERT_TRUE(turns.ok());
  ASSERT_EQ(turns->size(), 1U);
  EXPECT_EQ((*turns)[0].text, "I said this before dying");
}

TEST_P(StoreContract, CallerSummariesAreAddedReadForgottenAndExpired) {
  auto store = open();
  ASSERT_TRUE(store);
  testing::check_caller_summaries(*store, "");
  // Through the write buffer the server puts in front of the backend, too.
  BufferedStore buffered(open());
  testing::check_caller_summaries(buffered, "buffered-");
}

TEST_P(StoreContract, CallerSummariesSurviveAReopen) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->add_summary({"carol", "c1", 1000, "asked about opening hours"}).ok());
  }
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(testing::summary_texts(*store, "carol", 3),
            std::vector<std::string>{"asked about opening hours"});
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract, ::testing::Values("sqlite", "postgres"),
                         backend_name);

// PostgreSQL only: what a shared server adds (schema versions in a table, lost connections).
class PostgresStoreTest : public StoreContract {};

TEST_P(PostgresStoreTest, NewDatabaseIsAtTheCurrentSchemaVersionAndNewerIsRefused) {
  ASSERT_TRUE(open());
  const std::string url = settings_.postgres_url;
  EXPECT_EQ(pg_exec(url, "SELECT version FROM chalkbot_schema"),
            std::to_string(kPostgresSchemaVersion));
  EXPECT_EQ(pg_exec(url, "SELECT column_name FROM information_schema.columns WHERE "
                         "table_name = 'calls' AND column_name = 'node'"),
            "node");
  EXPECT_EQ(pg_exec(url, "SELECT column_name FROM information_schema.columns WHERE "
                         "table_name = 'tool_calls' AND column_name = 'duration_ms'"),
            "duration_ms");
  ASSERT_TRUE(open());  // a second open migrates nothing
  ASSERT_EQ(pg_exec(url, "UPDATE chalkbot_schema SET version = 99"), "");
  auto refused = make_store(settings_);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("newer"), std::string::npos) << refused.error().message;
  EXPECT_EQ(pg_exec(url, "SELECT version FROM chalkbot_schema"), "99");  // untouched
}

TEST_P(PostgresStoreTest, OperationsSurviveTheServerDroppingEveryConnection) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->begin_call(make_call("c", 1)).ok());
  // An administrator (or a failover) ends every session: 57P01 on the next use of each.
  const std::string kill_all =
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> "
      "pg_backend_pid() AND datname = current_database()";
  EXPECT_NE(pg_exec(settings_.postgres_url, kill_all), "0");
  for (int i = 0; i < 3; ++i) {  // more than one pooled connection was cut
    auto index = store->append_turn(make_turn("c", "user", "after " + std::to_string(i)));
    ASSERT_TRUE(index.ok()) << index.error().message;
    EXPECT_EQ(*index, i);
  }
  auto turns = store->turns("c");
  ASSERT_TRUE(turns.ok());
  EXPECT_EQ(turns->size(), 3U);
}

// The writer thread stores what is queued in one transaction. While another session holds the
// turns table, 50 turns queue up behind the first batch; once it lets go, they are stored in at
// most two transactions (the first batch, then the rest), which PostgreSQL shows as the rows'
// creating transaction ids (xmin): one per commit.
TEST_P(PostgresStoreTest, TurnsQueuedBehindALockAreStoredInOneTransaction) {
  auto backend = open();
  ASSERT_TRUE(backend);
  ASSERT_TRUE(backend->begin_call(make_call("queued", 1)).ok());
  BufferedStore store(std::move(backend));

  PGconn* locker = PQconnectdb(settings_.postgres_url.c_str());
  ASSERT_EQ(PQstatus(locker), CONNECTION_OK) << PQerrorMessage(locker);
  const auto run = [&](const char* sql) {
    PGresult* r = PQexec(locker, sql);
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
  };
  ASSERT_TRUE(run("BEGIN"));
  ASSERT_TRUE(run("LOCK TABLE turns IN EXCLUSIVE MODE"));  // reads go on, inserts wait
  constexpr int kTurns = 50;
  for (int i = 0; i < kTurns; ++i) {
    ASSERT_EQ(*store.append_turn(make_turn("queued", "user", "turn " + std::to_string(i))), i);
  }
  EXPECT_FALSE(store.flush(std::chrono::milliseconds(200)));  // held up by the lock
  ASSERT_TRUE(run("COMMIT"));
  PQfinish(locker);
  ASSERT_TRUE(store.flush(std::chrono::seconds(10)));

  auto turns = store.turns("queued");
  ASSERT_TRUE(turns.ok());
  ASSERT_EQ(turns->size(), static_cast<std::size_t>(kTurns));
  for (std::size_t i = 0; i < turns->size(); ++i) {
    EXPECT_EQ((*turns)[i].text, "turn " + std::to_string(i));
  }
  const std::string transactions =
      pg_exec(settings_.postgres_url,
              "SELECT COUNT(DISTINCT xmin::text) FROM turns WHERE call_id = 'queued'");
  EXPECT_TRUE(transactions == "1" || transactions == "2") << transactions << " transactions";
}

// A batch cut off by a lost connection is rolled back and stored again on a fresh one.
TEST_P(PostgresStoreTest, ABatchSurvivesTheServerDroppingEveryConnection) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->begin_call(make_call("c", 1)).ok());
  EXPECT_NE(pg_exec(settings_.postgres_url,
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> "
                    "pg_backend_pid() AND datname = current_database()"),
            "0");
  const std::vector<StoreWrite> batch{make_turn("c", "user", "one"),
                                      make_turn("c", "assistant", "two")};
  const Status stored = store->write_batch(batch);
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  EXPECT_EQ(store->turns("c")->size(), 2U);
  EXPECT_EQ(pg_exec(settings_.postgres_url,
                    "SELECT COUNT(DISTINCT xmin::text) FROM turns WHERE call_id = 'c'"),
            "1");
}

TEST_P(PostgresStoreTest, UnreachableServerIsAClearErrorWithoutThePassword) {
  settings_.postgres_url = "postgresql://chalkbot:hunter2@127.0.0.1:1/chalkbot";
  settings_.postgres_retry_ms = 200;
  auto store = make_store(settings_);
  ASSERT_FALSE(store.ok());
  const std::string& message = store.error().message;
  EXPECT_NE(message.find("chalkbot@127.0.0.1:1/chalkbot"), std::string::npos) << message;
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(Postgres, PostgresStoreTest, ::testing::Values("postgres"),
                         backend_name);

}  // namespace
}  // namespace chalkbot
