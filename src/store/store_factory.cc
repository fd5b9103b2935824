#include "core/config.h"
#include "core/settings.h"
#include "store/conversation_store.h"
#include "store/dynamodb_store.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"

namespace chalkbot {

Result<std::unique_ptr<ConversationStore>> make_store(const StoreSettings& settings) {
  if (settings.backend == "sqlite") {
    if (settings.path.empty()) return make_error("store.path: empty (the SQLite database file)");
    return open_sqlite_store(settings.path);
  }
  if (settings.backend == "postgres") {
    return open_postgres_store(
        {settings.postgres_url, settings.postgres_pool_size, settings.postgres_retry_ms});
  }
  if (settings.backend == "dynamodb") return open_dynamodb_store(settings, process_env);
  return make_error("store.backend: unknown backend '" + settings.backend +
                    "' (expected sqlite, postgres or dynamodb)");
}

}  // namespace chalkbot
