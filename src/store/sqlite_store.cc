#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <array>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/store_columns.h"

namespace chalkbot {
namespace {

// Ordered schema steps: step i takes a database from user_version i to i + 1. Append only; never
// edit a released step.
constexpr std::array<std::string_view, kSqliteSchemaVersion> kSqliteMigrations = {
    // v1: calls and their turns.
    R"sql(
CREATE TABLE calls (
  id TEXT PRIMARY KEY NOT NULL,
  from_uri TEXT NOT NULL,
  to_uri TEXT NOT NULL,
  started_ms INTEGER NOT NULL,
  ended_ms INTEGER,
  end_reason TEXT NOT NULL DEFAULT ''
);
CREATE TABLE turns (
  call_id TEXT NOT NULL REFERENCES calls(id),
  idx INTEGER NOT NULL,
  role TEXT NOT NULL,
  text TEXT NOT NULL,
  interrupted INTEGER NOT NULL,
  speech_start_ms INTEGER,
  speech_end_ms INTEGER,
  endpoint_ms INTEGER,
  asr_done_ms INTEGER,
  llm_first_token_ms INTEGER,
  first_sentence_ms INTEGER,
  tts_first_audio_ms INTEGER,
  first_rtp_out_ms INTEGER,
  done_ms INTEGER,
  PRIMARY KEY (call_id, idx)
);
)sql",
    // v2: recent_calls() orders by start time.
    R"sql(
CREATE INDEX calls_by_start ON calls(started_ms);
)sql",
    // v3: which node took the call (nodes sharing a PostgreSQL store; one node here).
    R"sql(
ALTER TABLE calls ADD COLUMN node TEXT NOT NULL DEFAULT '';
)sql",
    // v4: the tools the model called.
    R"sql(
CREATE TABLE tool_calls (
  call_id TEXT NOT NULL REFERENCES calls(id),
  idx INTEGER NOT NULL,
  name TEXT NOT NULL,
  arguments TEXT NOT NULL,
  result TEXT NOT NULL,
  ok INTEGER NOT NULL,
  started_ms INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  PRIMARY KEY (call_id, idx)
);
)sql",
};

// Caller summaries (memory across calls): a table of its own, created if missing beside the
// versioned steps (it touches no other table, so it needs no version of its own).
constexpr std::string_view kSqliteSummaryTable = R"sql(
CREATE TABLE IF NOT EXISTS caller_summaries (
  caller TEXT NOT NULL,
  call_id TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS caller_summaries_by_caller ON caller_summaries(caller, created_ms);
CREATE INDEX IF NOT EXISTS caller_summaries_by_created ON caller_summaries(created_ms);
)sql";

using store_columns::kCallColumns;
using store_columns::kStageFields;
using store_columns::kToolCallColumns;
using store_columns::kTurnColumns;
using store_columns::StageField;

struct StmtDeleter {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// Resets a cached statement when a read ends early: an unreset statement keeps its read
// transaction open, which pins the WAL and stops checkpoints.
struct ResetOnExit {
  sqlite3_stmt* stmt;
  ~ResetOnExit() { sqlite3_reset(stmt); }
};

struct DbDeleter {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbDeleter>;

std::string text_column(sqlite3_stmt* stmt, int col) {
  const unsigned char* text = sqlite3_column_text(stmt, col);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text), static_cast<std::size_t>(sqlite3_column_bytes(stmt, col))};
}

std::optional<std::int64_t> optional_int_column(sqlite3_stmt* stmt, int col) {
  if (sqlite3_column_type(stmt, col) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(stmt, col);
}

// Thread-safety: one connection behind one mutex (the server writes through BufferedStore's one
// writer thread; admin API reads share the connection).
class SqliteStore final : public ConversationStore {
 public:
  SqliteStore(std::string path, Db db) : path_(std::move(path)), db_(std::move(db)) {}

  Status init() {
    if (auto s = exec("PRAGMA journal_mode=WAL"); !s) return s;
    if (auto s = exec("PRAGMA synchronous=FULL"); !s) return s;
    if (auto s = exec("PRAGMA foreign_keys=ON"); !s) return s;
    // Erased rows (a forgotten caller) are overwritten, not left in free pages.
    if (auto s = exec("PRAGMA secure_delete=ON"); !s) return s;
    // Writes append at the right edge of the b-trees and reads page through recent calls, so a
    // small page cache holds what is hot; the OS caches the rest of the file. SQLite's default
    // (2 MiB) would fill as the database grows and show up as RSS growth in the soak.
    if (auto s = exec("PRAGMA cache_size=-512"); !s) return s;
    if (auto s = migrate(); !s) return s;
    // Checked after the first real read: a non-database file fails above, not here.
    auto mode = query_text("PRAGMA journal_mode");
    if (!mode) return mode.error();
    if (*mode != "wal") return fail("WAL mode not available (journal_mode=" + *mode + ")");
    return {};
  }

  Status begin_call(const CallRecord& call) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    return insert_call(call);
  }

  Status end_call(const std::string& call_id, std::int64_t ended_ms,
                  const std::string& reason) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    return update_call_end(call_id, ended_ms, reason);
  }

  Result<int> append_turn(const TurnRecord& turn) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    return insert_turn(turn);
  }

  Status append_tool_call(const ToolCallRecord& call) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    return insert_tool_call(call);
  }

  Result<std::vector<ToolCallRecord>> tool_calls(const std::string& call_id) override {
    return rows_of_call<ToolCallRecord>("tool_calls", kToolCallColumns, call_id,
                                        [](sqlite3_stmt* s) {
                                          ToolCallRecord t;
                                          t.call_id = text_column(s, 0);
                                          t.index = sqlite3_column_int(s, 1);
                                          t.name = text_column(s, 2);
                                          t.arguments = text_column(s, 3);
                                          t.result = text_column(s, 4);
                                          t.ok = sqlite3_column_int(s, 5) != 0;
                                          t.started_ms = sqlite3_column_int64(s, 6);
                                          t.duration_ms = sqlite3_column_int64(s, 7);
                                          return t;
                                        });
  }

  // A batch is one write transaction: one fsync of the WAL for all of its writes.
  std::size_t max_batch() const override { return 256; }
  Status write_batch(std::span<const StoreWrite> writes) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (auto s = exec("BEGIN IMMEDIATE"); !s) return s;
    for (const StoreWrite& write : writes) {
      Status status;
      if (const auto* call = std::get_if<CallRecord>(&write)) {
        status = insert_call(*call);
      } else if (const auto* end = std::get_if<CallEnd>(&write)) {
        status = update_call_end(end->call_id, end->ended_ms, end->reason);
      } else if (const auto* tool = std::get_if<ToolCallRecord>(&write)) {
        status = insert_tool_call(*tool);
      } else if (auto index = insert_turn(std::get<TurnRecord>(write)); !index) {
        status = index.error();
      }
      if (!status) {
        (void)exec("ROLLBACK");
        return status;
      }
    }
    return exec("COMMIT");
  }

  Result<std::optional<CallRecord>> call(const std::string& call_id) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    auto stmt = prepare(
        "SELECT " + std::string(kCallColumns) + " FROM calls WHERE id = ?");
    if (!stmt) return stmt.error();
    bind_text(*stmt, 1, call_id);
    const ResetOnExit reset{*stmt};
    const int rc = sqlite3_step(*stmt);
    if (rc == SQLITE_DONE) return std::optional<CallRecord>();
    if (rc != SQLITE_ROW) return fail("read call " + call_id);
    return std::optional<CallRecord>(read_call(*stmt));
  }

  Result<std::vector<CallRecord>> recent_calls(int limit) override { return list_calls(0, limit); }

  Result<std::vector<CallRecord>> list_calls(int offset, int limit) override {
    if (offset < 0 || limit < 0) return make_error("list_calls: negative offset or limit");
    const std::lock_guard<std::mutex> lock(mutex_);
    auto stmt = prepare(
        "SELECT " + std::string(kCallColumns) + " FROM calls "
        "ORDER BY started_ms DESC, rowid DESC LIMIT ? OFFSET ?");
    if (!stmt) return stmt.error();
    sqlite3_bind_int(*stmt, 1, limit);
    sqlite3_bind_int(*stmt, 2, offset);
    std::vector<CallRecord> calls;
    int rc = 0;
    while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) calls.push_back(read_call(*stmt));
    if (rc != SQLITE_DONE) return fail("list calls");
    return calls;
  }

  Result<std::int64_t> count_calls() override {
    const std::lock_guard<std::mutex> lock(mutex_);
    auto stmt = prepare("SELECT COUNT(*) FROM calls");
    if (!stmt) return stmt.error();
    const ResetOnExit reset{*stmt};
    if (sqlite3_step(*stmt) != SQLITE_ROW) return fail("count calls");
    return static_cast<std::int64_t>(sqlite3_column_int64(*stmt, 0));
  }

  Result<std::vector<TurnRecord>> turns(const std::string& call_id) override {
    return rows_of_call<TurnRecord>("turns", std::string(kTurnColumns), call_id,
                                    [](sqlite3_stmt* s) {
                                      TurnRecord t;
                                      t.call_id = text_column(s, 0);
                                      t.index = sqlite3_column_int(s, 1);
                                      t.role = text_column(s, 2);
                                      t.text = text_column(s, 3);
                                      t.interrupted = sqlite3_column_int(s, 4) != 0;
                                      int col = 5;
                                      for (StageField field : kStageFields) {
                                        t.times.*field = optional_int_column(s, col++);
                                      }
                                      return t;
                                    });
  }

  Status add_summary(const CallerSummary& summary) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    auto stmt = prepare(
        "INSERT INTO caller_summaries(caller, call_id, created_ms, text) VALUES(?, ?, ?, ?)");
    if (!stmt) return stmt.error();
    bind_text(*stmt, 1, summary.caller);
    bind_text(*stmt, 2, summary.call_id);
    sqlite3_bind_int64(*stmt, 3, summary.created_ms);
    bind_text(*stmt, 4, summary.text);
    if (sqlite3_step(*stmt) != SQLITE_DONE) return fail("add summary of call " + summary.call_id);
    return {};
  }

  Result<std::vector<CallerSummary>> summaries(const std::string& caller, int limit) override {
    if (limit < 0) return make_error("summaries: negative limit");
    const std::lock_guard<std::mutex> lock(mutex_);
    auto stmt = prepare(
        "SELECT caller, call_id, created_ms, text FROM caller_summaries WHERE caller = ? "
        "ORDER BY created_ms DESC, rowid DESC LIMIT ?");
    if (!stmt) return stmt.error();
    bind_text(*stmt, 1, caller);
    sqlite3_bind_int(*stmt, 2, limit);
    std::vector<CallerSummary> newest_first;
    int rc = 0;
    while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) {
      newest_first.push_back({text_column(*stmt, 0), text_column(*stmt, 1),
                              sqlite3_column_int64(*stmt, 2), text_column(*stmt, 3)});
    }
    if (rc != SQLITE_DONE) return fail("read summaries");
    return std::vector<CallerSummary>(newest_first.rbegin(), newest_first.rend());
  }

  Result<std::int64_t> forget_caller(const std::string& caller) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    auto stmt = prepare("DELETE FROM caller_summaries WHERE caller = ?");
    if (!stmt) return stmt.error();
    bind_text(*stmt, 1, caller);
    if (sqlite3_step(*stmt) != SQLITE_DONE) return fail("forget a caller");
    const auto erased = static_cast<std::int64_t>(sqlite3_changes(db_.get()));
    // The erased text is still in the write-ahead log until a checkpoint; an empty WAL holds
    // none of it. Busy readers can keep the log: then it goes at a later checkpoint.
    (void)exec("PRAGMA wal_checkpoint(TRUNCATE)");
    return erased;
  }

  Result<std::int64_t> erase_summaries_before(std::int64_t cutoff_ms) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    auto stmt = prepare("DELETE FROM caller_summaries WHERE created_ms < ?");
    if (!stmt) return stmt.error();
    sqlite3_bind_int64(*stmt, 1, cutoff_ms);
    if (sqlite3_step(*stmt) != SQLITE_DONE) return fail("erase old summaries");
    return static_cast<std::int64_t>(sqlite3_changes(db_.get()));
  }

 private:
  // One call's rows of `table` (turns, tool_calls) in index order, each read by `read`.
  template <class Row, class Read>
  Result<std::vector<Row>> rows_of_call(const char* table, const std::string& columns,
                                        const std::string& call_id, Read read) {
    const std::lock_guard<std::mutex> lock(mutex_);
    auto stmt = prepare("SELECT " + columns + " FROM " + table +
                        " WHERE call_id = ? ORDER BY idx");
    if (!stmt) return stmt.error();
    sqlite3_stmt* s = *stmt;
    bind_text(s, 1, call_id);
    const ResetOnExit reset{s};
    std::vector<Row> out;
    int rc = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(read(s));
    if (rc != SQLITE_DONE) return fail(std::string("read ") + table + " of call " + call_id);
    return out;
  }

  // The writes, for callers holding mutex_.
  Status insert_call(const CallRecord& call) {
    auto stmt = prepare(
        "INSERT INTO calls(" + std::string(kCallColumns) + ") "
        "VALUES(?, ?, ?, ?, ?, ?, ?)");
    if (!stmt) return stmt.error();
    sqlite3_stmt* s = *stmt;
    bind_text(s, 1, call.id);
    bind_text(s, 2, call.from);
    bind_text(s, 3, call.to);
    sqlite3_bind_int64(s, 4, call.started_ms);
    bind_optional(s, 5, call.ended_ms);
    bind_text(s, 6, call.end_reason);
    bind_text(s, 7, call.node);
    if (sqlite3_step(s) != SQLITE_DONE) return fail("begin_call " + call.id);
    return {};
  }

  Status update_call_end(const std::string& call_id, std::int64_t ended_ms,
                         const std::string& reason) {
    auto stmt = prepare("UPDATE calls SET ended_ms = ?, end_reason = ? WHERE id = ?");
    if (!stmt) return stmt.error();
    sqlite3_stmt* s = *stmt;
    sqlite3_bind_int64(s, 1, ended_ms);
    bind_text(s, 2, reason);
    bind_text(s, 3, call_id);
    if (sqlite3_step(s) != SQLITE_DONE) return fail("end_call " + call_id);
    if (sqlite3_changes(db_.get()) == 0) return make_rejection("store: no call '" + call_id + "'");
    return {};
  }

  Result<int> insert_turn(const TurnRecord& turn) {
    // One statement picks the next index and inserts: atomic even against other processes, since
    // SQLite runs it in one write transaction.
    auto stmt = prepare(
        "INSERT INTO turns(" + std::string(kTurnColumns) +
        ") SELECT ?1, COALESCE(MAX(idx) + 1, 0), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
        "?13 FROM turns WHERE call_id = ?1 RETURNING idx");
    if (!stmt) return stmt.error();
    sqlite3_stmt* s = *stmt;
    bind_text(s, 1, turn.call_id);
    bind_text(s, 2, turn.role);
    bind_text(s, 3, turn.text);
    sqlite3_bind_int(s, 4, turn.interrupted ? 1 : 0);
    int col = 5;
    for (StageField field : kStageFields) bind_optional(s, col++, turn.times.*field);
    const ResetOnExit reset{s};
    if (sqlite3_step(s) != SQLITE_ROW) return fail("append_turn to call " + turn.call_id);
    const int index = sqlite3_column_int(s, 0);
    if (sqlite3_step(s) != SQLITE_DONE) return fail("append_turn to call " + turn.call_id);
    return index;
  }

  Status insert_tool_call(const ToolCallRecord& call) {
    auto stmt = prepare(std::string("INSERT INTO tool_calls(") + kToolCallColumns +
                        ") SELECT ?1, COALESCE(MAX(idx) + 1, 0), ?2, ?3, ?4, ?5, ?6, ?7 "
                        "FROM tool_calls WHERE call_id = ?1");
    if (!stmt) return stmt.error();
    sqlite3_stmt* s = *stmt;
    bind_text(s, 1, call.call_id);
    bind_text(s, 2, call.name);
    bind_text(s, 3, call.arguments);
    bind_text(s, 4, call.result);
    sqlite3_bind_int(s, 5, call.ok ? 1 : 0);
    sqlite3_bind_int64(s, 6, call.started_ms);
    sqlite3_bind_int64(s, 7, call.duration_ms);
    const ResetOnExit reset{s};
    if (sqlite3_step(s) != SQLITE_DONE) return fail("append_tool_call to call " + call.call_id);
    return {};
  }

  // Statements are cached per SQL text: prepared once, reset and cleared on every use.
  Result<sqlite3_stmt*> prepare(const std::string& sql) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
      sqlite3_stmt* raw = nullptr;
      if (sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
        return fail("prepare");
      }
      it = statements_.emplace(sql, Stmt(raw)).first;
    }
    sqlite3_reset(it->second.get());
    sqlite3_clear_bindings(it->second.get());
    return it->second.get();
  }

  static void bind_text(sqlite3_stmt* s, int col, const std::string& value) {
    sqlite3_bind_text(s, col, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  }
  static void bind_optional(sqlite3_stmt* s, int col, const std::optional<std::int64_t>& v) {
    if (v) {
      sqlite3_bind_int64(s, col, *v);
    } else {
      sqlite3_bind_null(s, col);
    }
  }

  static CallRecord read_call(sqlite3_stmt* s) {
    CallRecord c;
    c.id = text_column(s, 0);
    c.from = text_column(s, 1);
    c.to = text_column(s, 2);
    c.started_ms = sqlite3_column_int64(s, 3);
    c.ended_ms = optional_int_column(s, 4);
    c.end_reason = text_column(s, 5);
    c.node = text_column(s, 6);
    return c;
  }

  Error fail(const std::string& what) const {
    std::string message = "store: " + what + " failed on " + path_ + ": " + sqlite3_errmsg(db_.get());
    // The database refused this row: retrying it would fail the same way.
    const int code = sqlite3_errcode(db_.get());
    if (code == SQLITE_CONSTRAINT || code == SQLITE_MISMATCH || code == SQLITE_TOOBIG) {
      return make_rejection(std::move(message));
    }
    return make_error(std::move(message));
  }

  Status exec(const std::string& sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      std::string text = message != nullptr ? message : sqlite3_errmsg(db_.get());
      sqlite3_free(message);
      return make_error("store: " + path_ + ": " + text);
    }
    return {};
  }

  Result<std::string> query_text(const std::string& sql) {
    auto stmt = prepare(sql);
    if (!stmt) return stmt.error();
    const ResetOnExit reset{*stmt};
    if (sqlite3_step(*stmt) != SQLITE_ROW) return fail(sql);
    return text_column(*stmt, 0);
  }

  // Applies the missing steps in one write transaction, so concurrent openers of a fresh file
  // cannot both migrate, and a failed step leaves the previous version intact.
  Status migrate() {
    if (auto s = exec("BEGIN IMMEDIATE"); !s) return s;
    auto status = migrate_locked();
    if (!status) {
      (void)exec("ROLLBACK");
      return status;
    }
    return exec("COMMIT");
  }

  Status migrate_locked() {
    auto version_text = query_text("PRAGMA user_version");
    if (!version_text) return version_text.error();
    const int version = std::stoi(*version_text);
    if (version > kSqliteSchemaVersion) {
      return make_error("store: " + path_ + " has schema version " + std::to_string(version) +
                        ", newer than this build understands (" +
                        std::to_string(kSqliteSchemaVersion) + "); upgrade Chalkbot");
    }
    if (version < 0) return make_error("store: " + path_ + " has a negative schema version");
    for (auto step = static_cast<std::size_t>(version); step < kSqliteMigrations.size(); ++step) {
      if (auto s = exec(std::string(kSqliteMigrations[step])); !s) {
        return make_error(s.error().message + " (migrating to schema version " +
                          std::to_string(step + 1) + ")");
      }
    }
    if (auto s = exec(std::string(kSqliteSummaryTable)); !s) return s;
    return exec("PRAGMA user_version = " + std::to_string(kSqliteSchemaVersion));
  }

  std::string path_;
  std::mutex mutex_;
  Db db_;
  std::map<std::string, Stmt> statements_;  // declared after db_: finalised before the close
};

}  // namespace

Result<std::unique_ptr<ConversationStore>> open_sqlite_store(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) {
    return make_error("store: cannot open database " + path + ": " +
                      (raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(db.get(), 5000);  // other processes (CLI tools, backups) may hold the lock
  auto store = std::make_unique<SqliteStore>(path, std::move(db));
  if (auto status = store->init(); !status) return status.error();
  return std::unique_ptr<ConversationStore>(std::move(store));
}

}  // namespace chalkbot
