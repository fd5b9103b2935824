#include "store/chat_history.h"

#include <chrono>
#include <random>
#include <thread>

#include "core/log.h"

namespace chalkbot {
namespace {

using nlohmann::json;

constexpr const char* kKey = "SessionId";
constexpr const char* kHistory = "History";
constexpr const char* kVersion = "Version";

json key_of(const std::string& session_id) { return {{kKey, {{"S", session_id}}}}; }

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Error dynamodb_failure(const std::string& what, const DynamoDbReply& reply) {
  std::string message = "dynamodb " + what + ": " + reply.error_type +
                        (reply.error_message.empty() ? "" : ": " + reply.error_message);
  // DynamoDB refusing the request itself (an item over its 400 KB limit, a value it cannot hold):
  // sent again it would fail the same way, so the store sets it aside rather than retrying it.
  const bool refused = reply.error_type == "ValidationException" ||
                       reply.error_type == "SerializationException";
  return refused ? make_rejection(std::move(message)) : make_error(std::move(message));
}

// A short random pause before retrying a lost race, growing with the attempt, so racing writers
// do not collide again in lock step.
void back_off(int attempt) {
  thread_local std::minstd_rand random{std::random_device{}()};
  std::uniform_int_distribution<int> ms(1, 5 * std::min(attempt, 10));
  std::this_thread::sleep_for(std::chrono::milliseconds(ms(random)));
}

}  // namespace

json langchain_message(const std::string& type, const std::string& content, const json& extra) {
  // The fields LangChain's message_to_dict writes for a plain text message.
  json data{{"content", content},
            {"additional_kwargs", json::object()},
            {"response_metadata", json::object()},
            {"type", type},
            {"name", nullptr},
            {"id", nullptr}};
  if (type == "human" || type == "ai") data["example"] = false;
  if (!extra.is_null()) data["chalkbot"] = extra;
  return {{"type", type}, {"data", std::move(data)}};
}

Result<std::vector<json>> history_from_item(const json& item) {
  std::vector<json> messages;
  const auto history = item.find(kHistory);
  if (history == item.end() || history->is_null()) return messages;
  if (!history->is_array()) return make_error("dynamodb: History is not a list");
  for (const auto& message : *history) {
    if (string_field(message, "type").empty() || !message.contains("data") ||
        !message.at("data").is_object()) {
      return make_error("dynamodb: History entry is not {type, data}: " +
                        message.dump().substr(0, 100));
    }
    messages.push_back(message);
  }
  return messages;
}

DynamoDbChatHistory::DynamoDbChatHistory(DynamoDbClient client, HistoryTable table)
    : client_(std::move(client)), table_(std::move(table)) {}

std::int64_t DynamoDbChatHistory::conflicts() const { return conflicts_.load(); }

Result<SessionHistory> DynamoDbChatHistory::load(const std::string& session_id) const {
  auto reply = client_.call(
      "GetItem",
      {{"TableName", table_.name}, {"Key", key_of(session_id)}, {"ConsistentRead", true}});
  if (!reply) return reply.error();
  if (!reply->ok()) return dynamodb_failure("GetItem", *reply);
  SessionHistory history;
  const auto item = reply->body.find("Item");
  if (item == reply->body.end()) return history;
  auto plain = from_attribute_value({{"M", *item}});
  if (!plain) return plain.error();
  history.exists = true;
  history.item = std::move(*plain);
  auto messages = history_from_item(history.item);
  if (!messages) return make_error(messages.error().message + " (session " + session_id + ")");
  history.messages = std::move(*messages);
  if (const auto version = history.item.find(kVersion);
      version != history.item.end() && version->is_number_integer()) {
    history.version = version->get<std::int64_t>();
  }
  return history;
}

Result<std::size_t> DynamoDbChatHistory::append(const std::string& session_id,
                                                const std::vector<json>& messages) const {
  for (int attempt = 1; attempt <= table_.max_write_attempts; ++attempt) {
    auto current = load(session_id);
    if (!current) return current.error();
    json history = json::array();
    for (const auto& message : current->messages) history.push_back(message);
    for (const auto& message : messages) history.push_back(message);

    json names{{"#h", kHistory}, {"#v", kVersion}};
    json values{{":h", to_attribute_value(history)},
                {":v", {{"N", std::to_string(current->version.value_or(0) + 1)}}}};
    std::string update = "SET #h = :h, #v = :v";
    if (table_.ttl_s > 0 && !table_.ttl_attribute.empty()) {
      names["#ttl"] = table_.ttl_attribute;
      values[":ttl"] = {{"N", std::to_string(now_s() + table_.ttl_s)}};
      update += ", #ttl = :ttl";
    }
    // The write only lands on the item exactly as we read it.
    std::string condition;
    if (!current->exists) {
      condition = "attribute_not_exists(SessionId)";
    } else if (current->version) {
      condition = "#v = :expected";
      values[":expected"] = {{"N", std::to_string(*current->version)}};
    } else if (current->item.contains(kHistory)) {
      // Written by LangChain: no version, but its History only ever grows.
      condition = "attribute_not_exists(#v) AND size(#h) = :length";
      values[":length"] = {{"N", std::to_string(current->messages.size())}};
    } else {
      condition = "attribute_not_exists(#v) AND attribute_not_exists(#h)";
    }
    auto reply = client_.call("UpdateItem", {{"TableName", table_.name},
                                             {"Key", key_of(session_id)},
                                             {"UpdateExpression", update},
                                             {"ConditionExpression", condition},
                                             {"ExpressionAttributeNames", names},
                                             {"ExpressionAttributeValues", values}});
    if (!reply) return reply.error();
    if (reply->ok()) return history.size();
    if (reply->error_type != "ConditionalCheckFailedException") {
      return dynamodb_failure("UpdateItem", *reply);
    }
    ++conflicts_;
    spdlog::debug("session {}: history changed under us (attempt {}), retrying", session_id,
                  attempt);
    back_off(attempt);
  }
  return make_error("dynamodb: session " + session_id + ": history still contended after " +
                    std::to_string(table_.max_write_attempts) + " attempts");
}

Status DynamoDbChatHistory::set_attributes(const std::string& session_id,
                                           const json& attributes) const {
  if (!attributes.is_object() || attributes.empty()) return {};
  json names = json::object();
  json values = json::object();
  std::string update;
  int index = 0;
  for (const auto& [name, value] : attributes.items()) {
    const std::string n = "#a" + std::to_string(index);
    const std::string v = ":a" + std::to_string(index);
    names[n] = name;
    values[v] = to_attribute_value(value);
    update += (update.empty() ? "SET " : ", ") + n + " = " + v;
    ++index;
  }
  auto reply = client_.call("UpdateItem", {{"TableName", table_.name},
                                           {"Key", key_of(session_id)},
                                           {"UpdateExpression", update},
                                           {"ExpressionAttributeNames", names},
                                           {"ExpressionAttributeValues", values}});
  if (!reply) return reply.error();
  if (!reply->ok()) return dynamodb_failure("UpdateItem", *reply);
  return {};
}

Result<std::vector<json>> DynamoDbChatHistory::scan(const std::vector<std::string>& attributes,
                                                    int max_pages) const {
  json names{{"#k", kKey}};
  std::string projection = "#k";
  for (std::size_t i = 0; i < attributes.size(); ++i) {
    names["#a" + std::to_string(i)] = attributes[i];
    projection += ", #a" + std::to_string(i);
  }
  json request{{"TableName", table_.name},
               {"ProjectionExpression", projection},
               {"ExpressionAttributeNames", names}};
  std::vector<json> items;
  for (int page = 0; page < max_pages; ++page) {
    auto reply = client_.call("Scan", request);
    if (!reply) return reply.error();
    if (!reply->ok()) return dynamodb_failure("Scan", *reply);
    for (const auto& item : reply->body.value("Items", json::array())) {
      auto plain = from_attribute_value({{"M", item}});
      if (!plain) return plain.error();
      items.push_back(std::move(*plain));
    }
    const auto last = reply->body.find("LastEvaluatedKey");
    if (last == reply->body.end()) break;
    request["ExclusiveStartKey"] = *last;
  }
  return items;
}

}  // namespace chalkbot
