#pragma once
// Chat memory in LangChain's DynamoDBChatMessageHistory table, readable and writable by both:
// item {SessionId: S, History: L of {type: human|ai|system, data: {content, ...}}, [TTL: N]}.
//
// LangChain rewrites the whole item on every message without any condition. We add a Version
// number and write with a ConditionExpression, retrying the read-modify-write when another writer
// got there first, so concurrent Chalkbot writers never lose a message. An item written by
// LangChain (no Version) is read as it is and guarded by the length of its History instead.
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/dynamodb.h"

namespace chalkbot {

struct HistoryTable {
  std::string name;
  int ttl_s = 0;                // 0: no TTL attribute written
  std::string ttl_attribute;    // LangChain's default: expireAt
  int max_write_attempts = 20;  // conditional-write retries before giving up on a contended item
};

// One message as LangChain stores it: {"type": "human", "data": {"content": ..., ...}}.
nlohmann::json langchain_message(const std::string& type, const std::string& content,
                                 const nlohmann::json& extra = nullptr);

struct SessionHistory {
  bool exists = false;                   // the item exists
  std::vector<nlohmann::json> messages;  // LangChain's {type, data} objects, oldest first
  std::optional<std::int64_t> version;   // absent on items LangChain wrote
  nlohmann::json item;                   // the whole item as plain JSON (other attributes too)
};

// The History of a plain-JSON item; fails when it is not a list of {type, data: {content}}.
Result<std::vector<nlohmann::json>> history_from_item(const nlohmann::json& item);

// Thread-safe.
class DynamoDbChatHistory {
 public:
  DynamoDbChatHistory(DynamoDbClient client, HistoryTable table);

  Result<SessionHistory> load(const std::string& session_id) const;
  // Appends `messages` (LangChain shape) to the session's History, creating the item when needed.
  // Returns the History's new length. Other attributes of the item are kept.
  Result<std::size_t> append(const std::string& session_id,
                             const std::vector<nlohmann::json>& messages) const;
  // Sets plain attributes on the session's item (creating it), leaving History alone.
  Status set_attributes(const std::string& session_id, const nlohmann::json& attributes) const;
  // Every item's `attributes` (plain JSON) plus SessionId, at most `limit` pages of a Scan.
  Result<std::vector<nlohmann::json>> scan(const std::vector<std::string>& attributes,
                                           int max_pages) const;

  // How many conditional writes lost a race and were retried (for tests and logs).
  std::int64_t conflicts() const;

 private:
  DynamoDbClient client_;
  HistoryTable table_;
  mutable std::atomic<std::int64_t> conflicts_{0};
};

}  // namespace chalkbot
