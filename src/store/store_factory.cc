#include "aws/dynamodb_store.h"
#include "core/config.h"
#include "core/settings.h"
#include "store/conversation_store.h"
#include "store/sqlite_store.h"

namespace chalkbot {

Result<std::unique_ptr<ConversationStore>> make_store(const StoreSettings& settings) {
  if (settings.backend == "sqlite") {
    if (settings.path.empty()) return make_error("store.path: empty (the SQLite database file)");
    return open_sqlite_store(settings.path);
  }
  if (settings.backend == "dynamodb") return open_dynamodb_store(settings, process_env);
  return make_error("store.backend: unknown backend '" + settings.backend +
                    "' (expected sqlite or dynamodb)");
}

}  // namespace chalkbot
