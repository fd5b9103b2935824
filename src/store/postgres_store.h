#pragma once
// ConversationStore on a shared PostgreSQL database, so several Chalkbot nodes behind one SIP load
// balancer see every call. Same logical schema and migration steps as the SQLite store; the
// version lives in the table chalkbot_schema.
#include <memory>
#include <string>

#include "core/result.h"
#include "store/conversation_store.h"

namespace chalkbot {

// The schema version this build writes; databases from a newer version are refused.
inline constexpr int kPostgresSchemaVersion = 4;

struct PostgresOptions {
  std::string conninfo;  // libpq connection string or URI; a secret (may hold a password)
  int pool_size = 4;     // connections opened up front, shared by all calls
  int retry_budget_ms = 5000;  // how long one operation may keep retrying transient errors
};

// Connects, migrates the schema (one node at a time, under an advisory lock) and opens the pool.
Result<std::unique_ptr<ConversationStore>> open_postgres_store(const PostgresOptions& options);

// The connection target without secrets, for messages: "user@host:port/dbname".
std::string describe_postgres_target(const std::string& conninfo);

}  // namespace chalkbot
