// BufferedStore over a real SQLite file, with the backend's writes failing on demand the way
// SQLite reports a full disk, a read-only file or a lock held elsewhere (fault injection in front
// of the real backend, as LevelDB's fault_injection_test does).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <nlohmann/json.hpp>

#include "store/buffered_store.h"
#include "store/sqlite_store.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

using std::chrono::milliseconds;

// Passes everything to the real store, except that writes fail while `fault` is set.
class FaultyBackend final : public ConversationStore {
 public:
  explicit FaultyBackend(std::unique_ptr<ConversationStore> real) : real_(std::move(real)) {}
  void set_fault(std::string message) {
    std::lock_guard lock(mutex_);
    fault_ = std::move(message);
  }
  int failed_writes() const { return failed_; }
  // Turns with this text are refused the way SQLite refuses a row (a constraint).
  void reject_text(std::string text) {
    std::lock_guard lock(mutex_);
    reject_text_ = std::move(text);
  }

  Status begin_call(const CallRecord& call) override {
    if (auto f = fault()) return *f;
    return real_->begin_call(call);
  }
  Status end_call(const std::string& id, std::int64_t ms, const std::string& reason) override {
    if (auto f = fault()) return *f;
    return real_->end_call(id, ms, reason);
  }
  Result<int> append_turn(const TurnRecord& turn) override {
    if (auto f = fault()) return *f;
    {
      std::lock_guard lock(mutex_);
      if (!reject_text_.empty() && turn.text == reject_text_) {
        return make_rejection("store: append_turn to call " + turn.call_id +
                              " failed on test.db: CHECK constraint failed: text");
      }
    }
    return real_->append_turn(turn);
  }
  // BufferedStore writes through here: SQLite's transactions, with the same faults. A batch
  // holding a refused turn is refused as a whole, as a transaction would be.
  std::size_t max_batch() const override { return real_->max_batch(); }
  Status write_batch(std::span<const StoreWrite> writes) override {
    if (auto f = fault()) return *f;
    ++batches_;
    largest_batch_ = std::max(largest_batch_.load(), writes.size());
    for (const StoreWrite& write : writes) {
      const auto* turn = std::get_if<TurnRecord>(&write);
      std::lock_guard lock(mutex_);
      if (turn != nullptr && !reject_text_.empty() && turn->text == reject_text_) {
        return make_rejection("store: append_turn to call " + turn->call_id +
                              " failed on test.db: CHECK constraint failed: text");
      }
    }
    return real_->write_batch(writes);
  }
  int batches() const { return batches_; }
  std::size_t largest_batch() const { return largest_batch_; }

  Result<std::optional<CallRecord>> call(const std::string& id) override { return real_->call(id); }
  Result<std::vector<CallRecord>> recent_calls(int limit) override {
    return real_->recent_calls(limit);
  }
  Result<std::vector<TurnRecord>> turns(const std::string& id) override { return real_->turns(id); }

 private:
  std::optional<Error> fault() {
    std::lock_guard lock(mutex_);
    if (fault_.empty()) return std::nullopt;
    ++failed_;
    return make_error("store: append_turn failed on test.db: " + fault_);
  }
  std::unique_ptr<ConversationStore> real_;
  std::mutex mutex_;
  std::string fault_;
  std::string reject_text_;
  std::atomic<int> failed_{0};
  std::atomic<int> batches_{0};
  std::atomic<std::size_t> largest_batch_{0};
};

class BufferedStoreTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    dir_ = testing::make_temp_dir();
    auto real = open_sqlite_store(dir_ + "/calls.db");
    ASSERT_TRUE(real) << real.error().message;
    auto faulty = std::make_unique<FaultyBackend>(std::move(*real));
    backend_ = faulty.get();
    BufferedStore::Options options;
    options.retry_min = milliseconds(10);
    options.retry_max = milliseconds(50);
    options.rejected_path = dir_ + "/rejected.jsonl";
    store_ = std::make_unique<BufferedStore>(std::move(faulty), options);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  static TurnRecord turn(const std::string& call, const std::string& role, const std::string& text) {
    return TurnRecord{call, 0, role, text, false, {}};
  }

  std::string dir_;
  FaultyBackend* backend_ = nullptr;
  std::unique_ptr<BufferedStore> store_;
};

// SQLite's own messages for the three faults of issue 6.
INSTANTIATE_TEST_SUITE_P(SqliteFaults, BufferedStoreTest,
                         ::testing::Values("database or disk is full",
                                           "attempt to write a readonly database",
                                           "database is locked"));

TEST_P(BufferedStoreTest, WritesDuringAFaultAreKeptAndStoredInOrderOnceItClears) {
  ASSERT_TRUE(store_->begin_call({"c1", "sip:a@x", "sip:bot@x", 1000, {}, "", ""}));
  auto first = store_->append_turn(turn("c1", "user", "before the fault"));
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, 0);
  ASSERT_TRUE(store_->flush(milliseconds(2000)));
  EXPECT_TRUE(store_->health().writable);

  backend_->set_fault(GetParam());
  // The call goes on: every write is accepted at once, whatever the backend says.
  for (int i = 1; i <= 5; ++i) {
    auto index = store_->append_turn(turn("c1", i % 2 ? "assistant" : "user", "t" + std::to_string(i)));
    ASSERT_TRUE(index);
    EXPECT_EQ(*index, i);
  }
  ASSERT_TRUE(store_->end_call("c1", 2000, "caller_goodbye"));
  EXPECT_FALSE(store_->flush(milliseconds(200)));
  const StoreHealth sick = store_->health();
  EXPECT_FALSE(sick.writable);
  EXPECT_EQ(sick.pending_writes, 6U);
  EXPECT_NE(sick.last_error.find(GetParam()), std::string::npos) << sick.last_error;
  EXPECT_GE(backend_->failed_writes(), 2) << "the failed write is retried";

  backend_->set_fault("");
  ASSERT_TRUE(store_->flush(milliseconds(2000)));
  const StoreHealth healthy = store_->health();
  EXPECT_TRUE(healthy.writable);
  EXPECT_EQ(healthy.pending_writes, 0U);
  auto turns = store_->turns("c1");
  ASSERT_TRUE(turns);
  ASSERT_EQ(turns->size(), 6U);
  for (std::size_t i = 0; i < turns->size(); ++i) EXPECT_EQ((*turns)[i].index, static_cast<int>(i));
  EXPECT_EQ((*turns)[5].text, "t5");
  auto call = store_->call("c1");
  ASSERT_TRUE(call && call->has_value());
  EXPECT_EQ((*call)->end_reason, "caller_goodbye");
}

TEST_P(BufferedStoreTest, ClosingStoresWhatIsPendingWhenTheFaultClearsInTime) {
  backend_->set_fault(GetParam());
  ASSERT_TRUE(store_->begin_call({"c2", "sip:a@x", "sip:bot@x", 1000, {}, "", ""}));
  ASSERT_TRUE(store_->append_turn(turn("c2", "user", "kept")));
  std::thread clear([this] {
    std::this_thread::sleep_for(milliseconds(200));
    backend_->set_fault("");
  });
  store_.reset();  // waits for the fault to clear and stores the turn
  clear.join();
  auto reopened = open_sqlite_store(dir_ + "/calls.db");
  ASSERT_TRUE(reopened);
  auto turns = (*reopened)->turns("c2");
  ASSERT_TRUE(turns);
  ASSERT_EQ(turns->size(), 1U);
  EXPECT_EQ((*turns)[0].text, "kept");
}

// A write the backend refuses for good is set aside, with its record, and does not hold up the
// writes behind it; a failing backend (the parameter) is still waited for.
TEST_P(BufferedStoreTest, ARejectedWriteIsSetAsideWithItsRecordAndTheRestAreStored) {
  backend_->reject_text("the refused one");
  ASSERT_TRUE(store_->begin_call({"c3", "sip:a@x", "sip:bot@x", 1000, {}, "", ""}));
  ASSERT_TRUE(store_->append_turn(turn("c3", "user", "first")));
  backend_->set_fault(GetParam());
  ASSERT_TRUE(store_->append_turn(turn("c3", "assistant", "the refused one")));
  ASSERT_TRUE(store_->append_turn(turn("c3", "user", "after it")));
  ASSERT_TRUE(store_->end_call("c3", 2000, "caller_goodbye"));
  EXPECT_FALSE(store_->flush(milliseconds(100)));  // the fault is retried, not set aside
  EXPECT_EQ(store_->health().rejected_writes, 0U);
  backend_->set_fault("");
  ASSERT_TRUE(store_->flush(milliseconds(2000)));

  const StoreHealth health = store_->health();
  EXPECT_TRUE(health.writable);
  EXPECT_EQ(health.rejected_writes, 1U);
  auto turns = store_->turns("c3");
  ASSERT_TRUE(turns);
  ASSERT_EQ(turns->size(), 2U);
  EXPECT_EQ((*turns)[0].text, "first");
  EXPECT_EQ((*turns)[1].text, "after it");
  EXPECT_EQ((*store_->call("c3"))->end_reason, "caller_goodbye");

  std::ifstream file(dir_ + "/rejected.jsonl");
  std::string line;
  ASSERT_TRUE(std::getline(file, line)) << "no rejected record kept";
  const auto kept = nlohmann::json::parse(line);
  EXPECT_EQ(kept["write"], "turn 1 of call c3");
  EXPECT_NE(kept["error"].get<std::string>().find("constraint"), std::string::npos);
  EXPECT_EQ(kept["record"]["text"], "the refused one");
  EXPECT_EQ(kept["record"]["role"], "assistant");
  EXPECT_EQ(kept["record"]["call_id"], "c3");
  EXPECT_FALSE(std::getline(file, line)) << "only the one refused write is kept: " << line;
}

// What queued up while the backend failed goes in a few transactions, not one per write.
TEST_P(BufferedStoreTest, WritesQueuedDuringAFaultAreStoredInFewTransactions) {
  ASSERT_TRUE(store_->begin_call({"c5", "sip:a@x", "sip:bot@x", 1000, {}, "", ""}));
  ASSERT_TRUE(store_->flush(milliseconds(2000)));
  backend_->set_fault(GetParam());
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(store_->append_turn(turn("c5", i % 2 ? "assistant" : "user", std::to_string(i))));
  }
  const int batches_before = backend_->batches();
  backend_->set_fault("");
  ASSERT_TRUE(store_->flush(milliseconds(5000)));
  const int batches = backend_->batches() - batches_before;
  EXPECT_LE(batches, 3) << "300 writes in " << batches << " transactions";
  EXPECT_EQ(backend_->largest_batch(), backend_->max_batch());
  auto turns = store_->turns("c5");
  ASSERT_TRUE(turns);
  ASSERT_EQ(turns->size(), 300U);
  for (std::size_t i = 0; i < turns->size(); ++i) {
    EXPECT_EQ((*turns)[i].index, static_cast<int>(i));
    EXPECT_EQ((*turns)[i].text, std::to_string(i));
  }
}

// The backend answering with a refusal is the backend working: a rejected write that was the last
// one pending must not leave the store reported unwritable.
TEST_P(BufferedStoreTest, ARejectionAfterAFaultCountsAsTheStoreWorkingAgain) {
  backend_->reject_text("refused");
  ASSERT_TRUE(store_->begin_call({"c4", "sip:a@x", "sip:bot@x", 1000, {}, "", ""}));
  ASSERT_TRUE(store_->flush(milliseconds(2000)));
  backend_->set_fault(GetParam());
  ASSERT_TRUE(store_->append_turn(turn("c4", "user", "refused")));
  EXPECT_FALSE(store_->flush(milliseconds(100)));
  EXPECT_FALSE(store_->health().writable);
  backend_->set_fault("");
  ASSERT_TRUE(store_->flush(milliseconds(2000)));
  const StoreHealth health = store_->health();
  EXPECT_TRUE(health.writable);
  EXPECT_EQ(health.rejected_writes, 1U);
  EXPECT_EQ(health.pending_writes, 0U);
}

TEST(CloseUnendedCalls, ClosesPhoneCallsLeftOpenAndKeepsCliSessions) {
  const std::string dir = testing::make_temp_dir();
  auto store = open_sqlite_store(dir + "/calls.db");
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->begin_call({"open", "sip:a@x", "sip:bot@x", 1000, {}, "", ""}));
  ASSERT_TRUE((*store)->begin_call({"done", "sip:a@x", "sip:bot@x", 1000, {}, "", ""}));
  ASSERT_TRUE((*store)->end_call("done", 1500, "caller_goodbye"));
  ASSERT_TRUE((*store)->begin_call({"session", "cli:ask", "chalkbot", 1000, {}, "", ""}));
  auto closed = close_unended_calls(**store, 3000, "lost");
  ASSERT_TRUE(closed) << closed.error().message;
  EXPECT_EQ(*closed, 1);
  EXPECT_EQ((*(*store)->call("open"))->end_reason, "lost");
  EXPECT_EQ((*(*store)->call("done"))->end_reason, "caller_goodbye");
  EXPECT_FALSE((*(*store)->call("session"))->ended_ms.has_value());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace chalkbot
