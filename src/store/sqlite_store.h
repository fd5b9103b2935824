#pragma once
// The default ConversationStore: one SQLite file in WAL mode with synchronous=FULL, so a turn is
// on disk when append_turn returns. The schema is versioned by PRAGMA user_version.
#include <memory>
#include <string>

#include "core/result.h"
#include "store/conversation_store.h"

namespace chalkbot {

// The schema version this build writes; databases from a newer version are refused.
inline constexpr int kSqliteSchemaVersion = 4;

// Opens (creating if needed) the database at `path` and migrates it to kSqliteSchemaVersion.
Result<std::unique_ptr<ConversationStore>> open_sqlite_store(const std::string& path);

}  // namespace chalkbot
