#include "store/postgres_store.h"

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/log.h"
#include "core/retry.h"
#include "store/store_columns.h"

namespace chalkbot {
namespace {

// Ordered schema steps, numbered like the SQLite store's (step i takes version i to i + 1), with
// PostgreSQL types: epoch milliseconds need BIGINT. Append only; never edit a released step.
constexpr std::array<std::string_view, kPostgresSchemaVersion> kPostgresMigrations = {
    // v1: calls and their turns.
    R"sql(
CREATE TABLE calls (
  id TEXT PRIMARY KEY NOT NULL,
  from_uri TEXT NOT NULL,
  to_uri TEXT NOT NULL,
  started_ms BIGINT NOT NULL,
  ended_ms BIGINT,
  end_reason TEXT NOT NULL DEFAULT ''
);
CREATE TABLE turns (
  call_id TEXT NOT NULL REFERENCES calls(id),
  idx INTEGER NOT NULL,
  role TEXT NOT NULL,
  text TEXT NOT NULL,
  interrupted BOOLEAN NOT NULL,
  speech_start_ms BIGINT,
  speech_end_ms BIGINT,
  endpoint_ms BIGINT,
  asr_done_ms BIGINT,
  llm_first_token_ms BIGINT,
  first_sentence_ms BIGINT,
  tts_first_audio_ms BIGINT,
  first_rtp_out_ms BIGINT,
  done_ms BIGINT,
  PRIMARY KEY (call_id, idx)
);
)sql",
    // v2: recent_calls() orders by start time.
    R"sql(
CREATE INDEX calls_by_start ON calls(started_ms);
)sql",
    // v3: which node took the call (the cluster view shows where a live call is held).
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
  ok BOOLEAN NOT NULL,
  started_ms BIGINT NOT NULL,
  duration_ms BIGINT NOT NULL,
  PRIMARY KEY (call_id, idx)
);
)sql",
};

// Caller summaries (memory across calls): a table of its own, created if missing beside the
// versioned steps (it touches no other table, so it needs no version of its own).
constexpr const char* kPostgresSummaryTable = R"sql(
CREATE TABLE IF NOT EXISTS caller_summaries (
  id BIGSERIAL PRIMARY KEY,
  caller TEXT NOT NULL,
  call_id TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS caller_summaries_by_caller ON caller_summaries(caller, created_ms);
CREATE INDEX IF NOT EXISTS caller_summaries_by_created ON caller_summaries(created_ms);
)sql";

// Any number, the same on every node: serialises migrations across nodes starting together.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(7262534108)";

using store_columns::kCallColumns;
using store_columns::kStageFields;
using store_columns::kToolCallColumns;
using store_columns::kTurnColumns;
using store_columns::StageField;

struct ConnCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using Conn = std::unique_ptr<PGconn, ConnCloser>;

struct ResultClearer {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, ResultClearer>;

using Param = std::optional<std::string>;  // nullopt is SQL NULL

Param int_param(std::int64_t value) { return std::to_string(value); }
Param optional_param(const std::optional<std::int64_t>& value) {
  return value ? int_param(*value) : std::nullopt;
}

// SQLSTATEs worth retrying: the statement did not take effect and may succeed on a fresh try.
bool transient_sqlstate(std::string_view state) {
  return state.substr(0, 2) == "08"      // connection exception
         || state == "40001"             // serialization failure
         || state == "40P01"             // deadlock detected
         || state == "57P01"             // admin shutdown (server restarting, failover)
         || state == "57P02"             // crash shutdown
         || state == "57P03"             // cannot connect now (starting up)
         || state == "53300";            // too many connections
}

// One attempt's failure; `transient` failures are retried with backoff, `rejected` ones are the
// statement's own fault (SQLSTATE class 22 data exception, 23 integrity constraint violation).
struct Failure {
  std::string message;
  bool transient = false;
  bool rejected = false;
};

// A connection lent to one operation. Records why the last statement failed.
class Session {
 public:
  explicit Session(PGconn* conn) : conn_(conn) {}

  // Runs one statement; on failure returns nullptr and fills failure().
  PgResult exec(const std::string& sql, const std::vector<Param>& params = {}) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const Param& p : params) values.push_back(p ? p->c_str() : nullptr);
    PgResult result(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                 values.data(), nullptr, nullptr, 0));
    const ExecStatusType status =
        result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
    const char* state = result ? PQresultErrorField(result.get(), PG_DIAG_SQLSTATE) : nullptr;
    failure_.transient =
        PQstatus(conn_) == CONNECTION_BAD || (state != nullptr && transient_sqlstate(state));
    const std::string_view sqlstate = state != nullptr ? state : "";
    failure_.rejected = sqlstate.starts_with("22") || sqlstate.starts_with("23");
    std::string text = result ? PQresultErrorMessage(result.get()) : PQerrorMessage(conn_);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    failure_.message = text.empty() ? "unknown error" : text;
    return nullptr;
  }

  // Multi-statement text without parameters (migrations).
  bool exec_script(const std::string& sql) {
    PgResult result(PQexec(conn_, sql.c_str()));
    if (result && PQresultStatus(result.get()) == PGRES_COMMAND_OK) return true;
    failure_.transient = PQstatus(conn_) == CONNECTION_BAD;
    failure_.message = result ? PQresultErrorMessage(result.get()) : PQerrorMessage(conn_);
    return false;
  }

  // Leaves a failed transaction so the connection can go back to the pool.
  void rollback() { PgResult(PQexec(conn_, "ROLLBACK")); }

  const Failure& failure() const { return failure_; }
  void fail(std::string message, bool rejected = false) {
    failure_ = {std::move(message), false, rejected};
  }

 private:
  PGconn* conn_;
  Failure failure_;
};

std::string text_at(PGresult* r, int row, int col) {
  return PQgetisnull(r, row, col) ? std::string() : std::string(PQgetvalue(r, row, col));
}

std::optional<std::int64_t> optional_int_at(PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col)) return std::nullopt;
  const char* text = PQgetvalue(r, row, col);
  std::int64_t value = 0;
  std::from_chars(text, text + std::char_traits<char>::length(text), value);
  return value;
}

std::int64_t int_at(PGresult* r, int row, int col) { return optional_int_at(r, row, col).value_or(0); }

CallRecord call_at(PGresult* r, int row) {
  CallRecord c;
  c.id = text_at(r, row, 0);
  c.from = text_at(r, row, 1);
  c.to = text_at(r, row, 2);
  c.started_ms = int_at(r, row, 3);
  c.ended_ms = optional_int_at(r, row, 4);
  c.end_reason = text_at(r, row, 5);
  c.node = text_at(r, row, 6);
  return c;
}

// A fixed set of connections lent out one operation at a time. Blocks when all are busy.
class Pool {
 public:
  void add(Conn conn) { idle_.push_back(std::move(conn)); }

  Conn take() {
    std::unique_lock lock(mutex_);
    available_.wait(lock, [this] { return !idle_.empty(); });
    Conn conn = std::move(idle_.back());
    idle_.pop_back();
    return conn;
  }

  void give_back(Conn conn) {
    {
      std::lock_guard lock(mutex_);
      idle_.push_back(std::move(conn));
    }
    available_.notify_one();
  }

 private:
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<Conn> idle_;
};

Result<Conn> connect(const PostgresOptions& options, const std::string& target) {
  // Defaults first: the connection string's own settings, expanded from "dbname", override them.
  // A bounded connect timeout keeps a reconnect (PQreset) from hanging a call on a dead host.
  const std::array<const char*, 4> keywords = {"connect_timeout", "application_name", "dbname",
                                               nullptr};
  const std::array<const char*, 4> values = {"5", "chalkbot", options.conninfo.c_str(), nullptr};
  Conn conn(PQconnectdbParams(keywords.data(), values.data(), 1));
  if (!conn) return make_error("store: out of memory connecting to PostgreSQL");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    std::string text = PQerrorMessage(conn.get());
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return make_error(ErrorKind::kConnect,
                      "store: cannot connect to PostgreSQL " + target + ": " + text);
  }
  PQsetClientEncoding(conn.get(), "UTF8");
  // Server notices ("relation already exists, skipping") go to our log, not to stderr.
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char* message) { spdlog::debug("store: postgres: {}", message); },
      nullptr);
  return conn;
}

class PostgresStore final : public ConversationStore {
 public:
  PostgresStore(PostgresOptions options, std::string target)
      : options_(std::move(options)), target_(std::move(target)) {
    retry_policy_.max_attempts = 0;  // as many as fit in the budget
    retry_policy_.first_backoff = std::chrono::milliseconds(50);
    retry_policy_.max_backoff = std::chrono::milliseconds(1000);
    retry_policy_.budget = std::chrono::milliseconds(options_.retry_budget_ms);
    retry_policy_.budget_key = "store.postgres_retry_ms";
  }

  // Opens the pool's connections, retrying while the server is still starting.
  Status open() {
    for (int i = 0; i < std::max(options_.pool_size, 1); ++i) {
      auto conn = retry(retry_policy_, CancelToken{},
                        [&](const RetryAttempt&) { return connect(options_, target_); });
      if (!conn) return conn.error();
      pool_.add(std::move(*conn));
    }
    auto migrated = run<bool>("migrate", [](Session& s) { return migrate(s); });
    if (!migrated) return migrated.error();
    return {};
  }

  Status begin_call(const CallRecord& call) override {
    auto done = run<bool>("begin_call " + call.id, [&](Session& s) -> std::optional<bool> {
      if (!insert_call(s, call)) return std::nullopt;
      return true;
    });
    if (!done) return done.error();
    return {};
  }

  Status end_call(const std::string& call_id, std::int64_t ended_ms,
                  const std::string& reason) override {
    auto done = run<bool>("end_call " + call_id, [&](Session& s) -> std::optional<bool> {
      if (!update_call_end(s, CallEnd{call_id, ended_ms, reason})) return std::nullopt;
      return true;
    });
    if (!done) return done.error();
    return {};
  }

  Status append_tool_call(const ToolCallRecord& call) override {
    auto done = run<bool>("append_tool_call to call " + call.call_id,
                          [&](Session& s) -> std::optional<bool> {
                            if (!s.exec("BEGIN")) return std::nullopt;
                            if (!insert_tool_call(s, call) || !s.exec("COMMIT")) {
                              s.rollback();
                              return std::nullopt;
                            }
                            return true;
                          });
    if (!done) return done.error();
    return {};
  }

  Result<std::vector<ToolCallRecord>> tool_calls(const std::string& call_id) override {
    return run<std::vector<ToolCallRecord>>(
        "read tool calls of call " + call_id,
        [&](Session& s) -> std::optional<std::vector<ToolCallRecord>> {
          PgResult r = s.exec(std::string("SELECT ") + kToolCallColumns +
                                  " FROM tool_calls WHERE call_id = $1 ORDER BY idx",
                              {call_id});
          if (!r) return std::nullopt;
          std::vector<ToolCallRecord> out;
          for (int row = 0; row < PQntuples(r.get()); ++row) {
            PGresult* p = r.get();
            ToolCallRecord t;
            t.call_id = text_at(p, row, 0);
            t.index = static_cast<int>(int_at(p, row, 1));
            t.name = text_at(p, row, 2);
            t.arguments = text_at(p, row, 3);
            t.result = text_at(p, row, 4);
            t.ok = text_at(p, row, 5) == "t";
            t.started_ms = int_at(p, row, 6);
            t.duration_ms = int_at(p, row, 7);
            out.push_back(std::move(t));
          }
          return out;
        });
  }

  Result<int> append_turn(const TurnRecord& turn) override {
    return run<int>("append_turn to call " + turn.call_id, [&](Session& s) -> std::optional<int> {
      if (!s.exec("BEGIN")) return std::nullopt;
      const std::optional<int> index = insert_turn(s, turn);
      if (!index || !s.exec("COMMIT")) {
        s.rollback();
        return std::nullopt;
      }
      return index;
    });
  }

  // A batch is one transaction: one commit (one WAL flush) for all of its writes.
  std::size_t max_batch() const override { return 256; }
  Status write_batch(std::span<const StoreWrite> writes) override {
    if (writes.size() > max_batch()) {
      return make_error("store: a batch of " + std::to_string(writes.size()) +
                        " writes is more than PostgreSQL takes at once");
    }
    const std::string what = "a batch of " + std::to_string(writes.size()) + " writes";
    auto done = run<bool>(what, [&](Session& s) -> std::optional<bool> {
      if (!s.exec("BEGIN")) return std::nullopt;
      for (const StoreWrite& write : writes) {
        bool stored = false;
        if (const auto* call = std::get_if<CallRecord>(&write)) {
          stored = insert_call(s, *call);
        } else if (const auto* end = std::get_if<CallEnd>(&write)) {
          stored = update_call_end(s, *end);
        } else if (const auto* tool = std::get_if<ToolCallRecord>(&write)) {
          stored = insert_tool_call(s, *tool);
        } else {
          stored = insert_turn(s, std::get<TurnRecord>(write)).has_value();
        }
        if (!stored) {
          s.rollback();
          return std::nullopt;
        }
      }
      if (!s.exec("COMMIT")) {
        s.rollback();
        return std::nullopt;
      }
      return true;
    });
    if (!done) return done.error();
    return {};
  }

  Result<std::optional<CallRecord>> call(const std::string& call_id) override {
    return run<std::optional<CallRecord>>(
        "read call " + call_id, [&](Session& s) -> std::optional<std::optional<CallRecord>> {
          PgResult r = s.exec("SELECT " + std::string(kCallColumns) + " FROM calls WHERE id = $1",
                              {call_id});
          if (!r) return std::nullopt;
          if (PQntuples(r.get()) == 0) return std::optional<CallRecord>();
          return std::optional<CallRecord>(call_at(r.get(), 0));
        });
  }

  Result<std::vector<CallRecord>> recent_calls(int limit) override {
    return run<std::vector<CallRecord>>(
        "read recent calls", [&](Session& s) -> std::optional<std::vector<CallRecord>> {
          PgResult r = s.exec("SELECT " + std::string(kCallColumns) +
                                  " FROM calls ORDER BY started_ms DESC, id DESC LIMIT $1",
                              {int_param(limit)});
          if (!r) return std::nullopt;
          std::vector<CallRecord> calls;
          for (int row = 0; row < PQntuples(r.get()); ++row) calls.push_back(call_at(r.get(), row));
          return calls;
        });
  }

  Result<std::vector<TurnRecord>> turns(const std::string& call_id) override {
    return run<std::vector<TurnRecord>>(
        "read turns of call " + call_id, [&](Session& s) -> std::optional<std::vector<TurnRecord>> {
          PgResult r = s.exec("SELECT " + std::string(kTurnColumns) +
                                  " FROM turns WHERE call_id = $1 ORDER BY idx",
                              {call_id});
          if (!r) return std::nullopt;
          std::vector<TurnRecord> out;
          for (int row = 0; row < PQntuples(r.get()); ++row) {
            PGresult* p = r.get();
            TurnRecord t;
            t.call_id = text_at(p, row, 0);
            t.index = static_cast<int>(int_at(p, row, 1));
            t.role = text_at(p, row, 2);
            t.text = text_at(p, row, 3);
            t.interrupted = text_at(p, row, 4) == "t";
            int col = 5;
            for (StageField field : kStageFields) t.times.*field = optional_int_at(p, row, col++);
            out.push_back(std::move(t));
          }
          return out;
        });
  }

  Status add_summary(const CallerSummary& summary) override {
    auto done = run<bool>("add summary of call " + summary.call_id,
                          [&](Session& s) -> std::optional<bool> {
                            if (!s.exec("INSERT INTO caller_summaries(caller, call_id, created_ms, "
                                        "text) VALUES($1, $2, $3, $4)",
                                        {summary.caller, summary.call_id,
                                         int_param(summary.created_ms), summary.text})) {
                              return std::nullopt;
                            }
                            return true;
                          });
    if (!done) return done.error();
    return {};
  }

  Result<std::vector<CallerSummary>> summaries(const std::string& caller, int limit) override {
    return run<std::vector<CallerSummary>>(
        "read summaries", [&](Session& s) -> std::optional<std::vector<CallerSummary>> {
          PgResult r = s.exec(
              "SELECT caller, call_id, created_ms, text FROM caller_summaries WHERE caller = $1 "
              "ORDER BY created_ms DESC, id DESC LIMIT $2",
              {caller, int_param(limit)});
          if (!r) return std::nullopt;
          std::vector<CallerSummary> out;
          for (int row = PQntuples(r.get()) - 1; row >= 0; --row) {
            out.push_back({text_at(r.get(), row, 0), text_at(r.get(), row, 1),
                           int_at(r.get(), row, 2), text_at(r.get(), row, 3)});
          }
          return out;
        });
  }

  Result<std::int64_t> forget_caller(const std::string& caller) override {
    return erase_summaries("forget a caller", "caller = $1", {caller});
  }

  Result<std::int64_t> erase_summaries_before(std::int64_t cutoff_ms) override {
    return erase_summaries("erase old summaries", "created_ms < $1", {int_param(cutoff_ms)});
  }

 private:
  Result<std::int64_t> erase_summaries(const std::string& what, const std::string& where,
                                       const std::vector<Param>& params) {
    return run<std::int64_t>(what, [&](Session& s) -> std::optional<std::int64_t> {
      PgResult r = s.exec("DELETE FROM caller_summaries WHERE " + where, params);
      if (!r) return std::nullopt;
      std::int64_t erased = 0;
      const std::string_view count = PQcmdTuples(r.get());
      std::from_chars(count.data(), count.data() + count.size(), erased);
      return erased;
    });
  }

  // One write's statements, on their own or inside the caller's transaction. False on failure;
  // the session says why.
  static bool insert_call(Session& s, const CallRecord& call) {
    return static_cast<bool>(s.exec("INSERT INTO calls(" + std::string(kCallColumns) +
                                        ") VALUES($1, $2, $3, $4, $5, $6, $7)",
                                    {call.id, call.from, call.to, int_param(call.started_ms),
                                     optional_param(call.ended_ms), call.end_reason, call.node}));
  }

  // A call that does not exist is refused for good (rejected).
  static bool update_call_end(Session& s, const CallEnd& end) {
    PgResult r = s.exec("UPDATE calls SET ended_ms = $1, end_reason = $2 WHERE id = $3",
                        {int_param(end.ended_ms), end.reason, end.call_id});
    if (!r) return false;
    if (std::string_view(PQcmdTuples(r.get())) == "0") {
      s.fail("no call '" + end.call_id + "'", true);
      return false;
    }
    return true;
  }

  // Inside a transaction: the turn's index, numbered after the call's turns stored so far.
  static std::optional<int> insert_turn(Session& s, const TurnRecord& turn) {
    std::vector<Param> params = {turn.call_id, turn.role, turn.text,
                                 std::string(turn.interrupted ? "true" : "false")};
    for (StageField field : kStageFields) params.push_back(optional_param(turn.times.*field));
    // The call's row lock orders appends from every node; the INSERT, a new statement, then
    // sees the turns committed before it, so MAX(idx) + 1 is free.
    PgResult locked = s.exec("SELECT 1 FROM calls WHERE id = $1 FOR UPDATE", {turn.call_id});
    if (!locked) return std::nullopt;
    if (PQntuples(locked.get()) == 0) {
      s.fail("no call '" + turn.call_id + "'", true);
      return std::nullopt;
    }
    PgResult inserted = s.exec("INSERT INTO turns(" + std::string(kTurnColumns) +
                                   ") SELECT $1, COALESCE(MAX(idx) + 1, 0), $2, $3, $4, $5, $6, "
                                   "$7, $8, $9, $10, $11, $12, $13 FROM turns WHERE call_id = $1 "
                                   "RETURNING idx",
                               params);
    if (!inserted) return std::nullopt;
    return static_cast<int>(int_at(inserted.get(), 0, 0));
  }

  // Inside a transaction, numbered like a turn (the call's row lock orders the appends).
  static bool insert_tool_call(Session& s, const ToolCallRecord& call) {
    PgResult locked = s.exec("SELECT 1 FROM calls WHERE id = $1 FOR UPDATE", {call.call_id});
    if (!locked) return false;
    if (PQntuples(locked.get()) == 0) {
      s.fail("no call '" + call.call_id + "'", true);
      return false;
    }
    return static_cast<bool>(
        s.exec(std::string("INSERT INTO tool_calls(") + kToolCallColumns +
                   ") SELECT $1, COALESCE(MAX(idx) + 1, 0), $2, $3, $4, $5, $6, $7 "
                   "FROM tool_calls WHERE call_id = $1",
               {call.call_id, call.name, call.arguments, call.result,
                std::string(call.ok ? "true" : "false"), int_param(call.started_ms),
                int_param(call.duration_ms)}));
  }

  // Runs `op` on a pooled connection. `op` returns nullopt on failure (the session says why);
  // transient failures are retried on a reset connection, within store.postgres_retry_ms.
  template <class T>
  Result<T> run(const std::string& what, const std::function<std::optional<T>(Session&)>& op) {
    const auto once = [&](const RetryAttempt&) -> Result<T> {
      Conn conn = pool_.take();
      if (PQstatus(conn.get()) == CONNECTION_BAD) PQreset(conn.get());
      Session session(conn.get());
      std::optional<T> value;
      if (PQstatus(conn.get()) == CONNECTION_OK) {
        value = op(session);
      } else {
        session.fail(PQerrorMessage(conn.get()));
      }
      const bool lost = PQstatus(conn.get()) != CONNECTION_OK;
      pool_.give_back(std::move(conn));
      if (value) return std::move(*value);
      const Failure& failure = session.failure();
      // A lost connection, or a server state that passes (failover, deadlock): worth a retry.
      const ErrorKind kind = lost ? ErrorKind::kReset
                             : failure.transient ? ErrorKind::kServerError
                                                 : ErrorKind::kOther;
      Error error = make_error(
          kind, "store: " + what + " failed on PostgreSQL " + target_ + ": " + failure.message);
      error.rejected = failure.rejected && kind == ErrorKind::kOther;
      return error;
    };
    return retry(retry_policy_, CancelToken{}, once,
                 [](const Error& error, int, std::chrono::milliseconds wait) {
                   spdlog::warn("{}; retrying in {} ms", error.message, wait.count());
                 });
  }

  static std::optional<bool> migrate(Session& s) {
    if (!s.exec("BEGIN") || !s.exec(kMigrationLock) ||
        !s.exec("CREATE TABLE IF NOT EXISTS chalkbot_schema (version INTEGER NOT NULL)")) {
      s.rollback();
      return std::nullopt;
    }
    PgResult r = s.exec("SELECT COALESCE(MAX(version), 0) FROM chalkbot_schema");
    if (!r) {
      s.rollback();
      return std::nullopt;
    }
    const auto version = int_at(r.get(), 0, 0);
    if (version > kPostgresSchemaVersion) {
      s.rollback();
      s.fail("schema version " + std::to_string(version) +
             " is newer than this build understands (" + std::to_string(kPostgresSchemaVersion) +
             "); upgrade Chalkbot");
      return std::nullopt;
    }
    for (auto step = static_cast<std::size_t>(version); step < kPostgresMigrations.size(); ++step) {
      if (!s.exec_script(std::string(kPostgresMigrations[step]))) {
        Failure f = s.failure();
        s.rollback();
        s.fail(f.message + " (migrating to schema version " + std::to_string(step + 1) + ")");
        return std::nullopt;
      }
    }
    if (!s.exec_script(kPostgresSummaryTable)) {
      Failure f = s.failure();
      s.rollback();
      s.fail(f.message + " (creating caller_summaries)");
      return std::nullopt;
    }
    if (!s.exec("DELETE FROM chalkbot_schema") ||
        !s.exec("INSERT INTO chalkbot_schema(version) VALUES($1)",
                {int_param(kPostgresSchemaVersion)}) ||
        !s.exec("COMMIT")) {
      s.rollback();
      return std::nullopt;
    }
    return true;
  }

  PostgresOptions options_;
  RetryPolicy retry_policy_;
  std::string target_;  // no secrets
  Pool pool_;
};

}  // namespace

std::string describe_postgres_target(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    PQfreemem(error);
    return "(unparsable connection string)";
  }
  std::string user, host, port, dbname;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string_view key = o->keyword;
    if (key == "user") user = o->val;
    if (key == "host") host = o->val;
    if (key == "port") port = o->val;
    if (key == "dbname") dbname = o->val;
  }
  PQconninfoFree(options);
  std::string out = user.empty() ? "" : user + "@";
  out += host.empty() ? "localhost" : host;
  if (!port.empty()) out += ":" + port;
  if (!dbname.empty()) out += "/" + dbname;
  return out;
}

Result<std::unique_ptr<ConversationStore>> open_postgres_store(const PostgresOptions& options) {
  if (options.conninfo.empty()) {
    return make_error(
        "store.backend is postgres but no connection string is set: put it in the environment "
        "variable CHALKBOT_STORE_POSTGRES_URL (e.g. postgresql://chalkbot@db-host/chalkbot)");
  }
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(options.conninfo.c_str(), &parse_error);
  if (parsed == nullptr) {
    // libpq's message names the bad part; it never echoes the whole string (no password leak).
    std::string text = parse_error != nullptr ? parse_error : "invalid";
    PQfreemem(parse_error);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return make_error("store: CHALKBOT_STORE_POSTGRES_URL is not a valid connection string: " +
                      text);
  }
  PQconninfoFree(parsed);
  auto store = std::make_unique<PostgresStore>(options, describe_postgres_target(options.conninfo));
  if (auto status = store->open(); !status) return status.error();
  return std::unique_ptr<ConversationStore>(std::move(store));
}

}  // namespace chalkbot
