#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/settings.h"
#include "store/conversation_store.h"
#include "store/sqlite_store.h"
#include "support/store_records.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

// SQLite specifics; the contract every backend keeps is tests/contract/store_contract_test.cc.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::make_temp_dir();
    path_ = dir_ + "/chalkbot.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<ConversationStore> open() {
    StoreSettings settings;
    settings.backend = "sqlite";
    settings.path = path_;
    auto store = make_store(settings);
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message);
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Runs SQL on the file directly, outside the store.
  void raw_exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_free(err);
    sqlite3_close(db);
  }
  std::string raw_query(const std::string& sql) {
    sqlite3* db = nullptr;
    std::string out;
    if (sqlite3_open(path_.c_str(), &db) != SQLITE_OK) return "open failed";
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      out = text != nullptr ? reinterpret_cast<const char*>(text) : "";
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  }

  std::string dir_;
  std::string path_;
};

using testing::make_call;
using testing::make_turn;

TEST_F(StoreTest, NewDatabaseIsWalAtCurrentSchemaVersion) {
  ASSERT_TRUE(open());
  EXPECT_EQ(raw_query("PRAGMA user_version"), std::to_string(kSqliteSchemaVersion));
  EXPECT_EQ(raw_query("PRAGMA journal_mode"), "wal");
}

TEST_F(StoreTest, VersionOneDatabaseIsMigratedKeepingItsData) {
  // The v1 schema exactly as the first release wrote it.
  raw_exec(R"sql(
CREATE TABLE calls (id TEXT PRIMARY KEY NOT NULL, from_uri TEXT NOT NULL, to_uri TEXT NOT NULL,
  started_ms INTEGER NOT NULL, ended_ms INTEGER, end_reason TEXT NOT NULL DEFAULT '');
CREATE TABLE turns (call_id TEXT NOT NULL REFERENCES calls(id), idx INTEGER NOT NULL,
  role TEXT NOT NULL, text TEXT NOT NULL, interrupted INTEGER NOT NULL, speech_start_ms INTEGER,
  speech_end_ms INTEGER, endpoint_ms INTEGER, asr_done_ms INTEGER, llm_first_token_ms INTEGER,
  first_sentence_ms INTEGER, tts_first_audio_ms INTEGER, first_rtp_out_ms INTEGER,
  done_ms INTEGER, PRIMARY KEY (call_id, idx));
INSERT INTO calls VALUES ('old', 'a', 'b', 42, NULL, '');
INSERT INTO turns(call_id, idx, role, text, interrupted) VALUES ('old', 0, 'user', 'hello', 0);
PRAGMA user_version = 1;
)sql");
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(raw_query("PRAGMA user_version"), std::to_string(kSqliteSchemaVersion));
  EXPECT_EQ(raw_query("SELECT name FROM sqlite_master WHERE name = 'calls_by_start'"),
            "calls_by_start");
  auto turns = store->turns("old");
  ASSERT_TRUE(turns.ok());
  ASSERT_EQ(turns->size(), 1U);
  EXPECT_EQ((*turns)[0].text, "hello");
  EXPECT_EQ(*store->append_turn(make_turn("old", "assistant", "hi")), 1);
}

TEST_F(StoreTest, DatabaseFromANewerVersionIsRefused) {
  ASSERT_TRUE(open());
  raw_exec("PRAGMA user_version = " + std::to_string(kSqliteSchemaVersion + 1));
  StoreSettings settings;
  settings.backend = "sqlite";
  settings.path = path_;
  auto store = make_store(settings);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("newer"), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find(path_), std::string::npos);
  // Refusing must not have touched the version.
  EXPECT_EQ(raw_query("PRAGMA user_version"), std::to_string(kSqliteSchemaVersion + 1));
}

TEST_F(StoreTest, AppendLatencyWithFullSync) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->begin_call(make_call("c", 1)).ok());
  constexpr int kTurns = 40;
  std::vector<double> ms;
  for (int i = 0; i < kTurns; ++i) {
    TurnRecord t = make_turn("c", i % 2 == 0 ? "user" : "assistant", "a sentence of text");
    t.times.done = i;
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(store->append_turn(t).ok());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("[ figures  ] append_turn (WAL, synchronous=FULL): median %.3f ms, max %.3f ms\n",
              ms[ms.size() / 2], ms.back());
  EXPECT_EQ(store->turns("c")->size(), static_cast<std::size_t>(kTurns));
}

TEST_F(StoreTest, BadPathsAreClearErrors) {
  StoreSettings settings;
  settings.backend = "sqlite";
  settings.path = dir_ + "/no/such/dir/chalkbot.db";
  auto missing_dir = make_store(settings);
  ASSERT_FALSE(missing_dir.ok());
  EXPECT_NE(missing_dir.error().message.find(settings.path), std::string::npos)
      << missing_dir.error().message;

  settings.path = dir_ + "/notes.txt";
  std::ofstream(settings.path) << "this is not a database, just some text that is long enough to "
                                  "fill the header a SQLite file would have at its start.\n";
  auto not_db = make_store(settings);
  ASSERT_FALSE(not_db.ok());
  EXPECT_NE(not_db.error().message.find(settings.path), std::string::npos)
      << not_db.error().message;
}

TEST(StoreFactory, PostgresWithoutAConnectionStringNamesTheVariable) {
  StoreSettings settings;
  settings.backend = "postgres";
  auto store = make_store(settings);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("CHALKBOT_STORE_POSTGRES_URL"), std::string::npos)
      << store.error().message;
}

TEST(StoreFactory, UnknownBackendNamesTheKey) {
  StoreSettings settings;
  settings.backend = "cassandra";
  settings.path = "/tmp/x.db";
  auto store = make_store(settings);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("store.backend"), std::string::npos);
  EXPECT_NE(store.error().message.find("cassandra"), std::string::npos);
}

TEST(Memory, KeepsNewestTurnsWithinBudgetInOrder) {
  std::vector<TurnRecord> turns = {
      make_turn("c", "user", "aaaaaaaaaa"),       // 10
      make_turn("c", "assistant", "bbbbbbbbbb"),  // 10
      make_turn("c", "user", "cccccccccc"),       // 10
      make_turn("c", "assistant", "dddddddddd"),  // 10
  };
  auto all = memory_from_turns(turns, 40);
  ASSERT_EQ(all.size(), 4U);
  EXPECT_EQ(all[0].role, "user");
  EXPECT_EQ(all[0].content, "aaaaaaaaaa");
  EXPECT_EQ(all[3].role, "assistant");
  EXPECT_EQ(all[3].content, "dddddddddd");

  auto trimmed = memory_from_turns(turns, 25);  // room for two
  ASSERT_EQ(trimmed.size(), 2U);
  EXPECT_EQ(trimmed[0].content, "cccccccccc");
  EXPECT_EQ(trimmed[1].content, "dddddddddd");

  auto tiny = memory_from_turns(turns, 3);  // the newest is kept even over budget
  ASSERT_EQ(tiny.size(), 1U);
  EXPECT_EQ(tiny[0].content, "dddddddddd");

  EXPECT_TRUE(memory_from_turns({}, 100).empty());
}

TEST(Memory, StopsAtTheFirstTurnThatDoesNotFit) {
  // An older short turn must not be kept once a newer one was dropped: the history stays contiguous.
  std::vector<TurnRecord> turns = {make_turn("c", "user", "hi"),
                                   make_turn("c", "assistant", std::string(50, 'x')),
                                   make_turn("c", "user", "last")};
  auto m = memory_from_turns(turns, 20);
  ASSERT_EQ(m.size(), 1U);
  EXPECT_EQ(m[0].content, "last");
}

}  // namespace
}  // namespace chalkbot
