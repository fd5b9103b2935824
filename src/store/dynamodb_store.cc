#include "store/dynamodb_store.h"

#include <algorithm>

#include "store/chat_history.h"
#include "store/dynamodb.h"

namespace chalkbot {
namespace {

using nlohmann::json;

using StageField = std::optional<std::int64_t> StageTimes::*;
constexpr std::pair<const char*, StageField> kStages[] = {
    {"speech_start", &StageTimes::speech_start},
    {"speech_end", &StageTimes::speech_end},
    {"endpoint", &StageTimes::endpoint},
    {"asr_done", &StageTimes::asr_done},
    {"llm_first_token", &StageTimes::llm_first_token},
    {"first_sentence", &StageTimes::first_sentence},
    {"tts_first_audio", &StageTimes::tts_first_audio},
    {"first_rtp_out", &StageTimes::first_rtp_out},
    {"done", &StageTimes::done},
};

// The call record's attributes on the session item.
constexpr const char* kFrom = "CallFrom";
constexpr const char* kTo = "CallTo";
constexpr const char* kStarted = "CallStartedMs";
constexpr const char* kEnded = "CallEndedMs";
constexpr const char* kEndReason = "CallEndReason";
// The model's tool calls: a list attribute of the session item, beside LangChain's History (whose
// messages LangChain reads; tool rows there would change its turn numbering).
constexpr const char* kToolCalls = "CallToolCalls";
constexpr int kMaxScanPages = 50;

// Caller summaries: one item per caller in the same table, beside the calls' sessions (LangChain
// reads no such session; recent_calls() skips it, having no call record). Its list attribute holds
// {CallId, CreatedMs, Text} maps in the order they were added.
constexpr const char* kCallerKeyPrefix = "chalkbot-caller#";
constexpr const char* kSummaries = "CallerSummaries";
constexpr int kMaxEraseAttempts = 5;  // rewrites of one caller's list racing new summaries

json caller_key(const std::string& caller) {
  return {{"SessionId", {{"S", std::string(kCallerKeyPrefix) + caller}}}};
}

Error dynamodb_error(const std::string& what, const DynamoDbReply& reply) {
  return make_error("dynamodb " + what + ": " + reply.error_type +
                    (reply.error_message.empty() ? "" : ": " + reply.error_message));
}

// The list attribute's summaries (plain JSON); malformed entries are skipped.
std::vector<CallerSummary> summaries_from(const std::string& caller, const json& list) {
  std::vector<CallerSummary> out;
  if (!list.is_array()) return out;
  for (const auto& entry : list) {
    if (!entry.is_object() || !entry.contains("CreatedMs") ||
        !entry["CreatedMs"].is_number_integer()) {
      continue;
    }
    out.push_back({caller, string_field(entry, "CallId"), entry["CreatedMs"].get<std::int64_t>(),
                   string_field(entry, "Text")});
  }
  return out;
}

json list_of(const std::vector<CallerSummary>& summaries) {
  json list = json::array();
  for (const auto& s : summaries) {
    list.push_back({{"CallId", s.call_id}, {"CreatedMs", s.created_ms}, {"Text", s.text}});
  }
  return list;
}

std::optional<CallRecord> call_from_item(const std::string& id, const json& item) {
  if (!item.contains(kStarted) || !item[kStarted].is_number_integer()) return std::nullopt;
  CallRecord call;
  call.id = id;
  call.from = string_field(item, kFrom);
  call.to = string_field(item, kTo);
  call.started_ms = item[kStarted].get<std::int64_t>();
  if (item.contains(kEnded) && item[kEnded].is_number_integer()) {
    call.ended_ms = item[kEnded].get<std::int64_t>();
  }
  call.end_reason = string_field(item, kEndReason);
  return call;
}

class DynamoDbStore final : public ConversationStore {
 public:
  DynamoDbStore(DynamoDbClient client, HistoryTable table)
      : client_(client), table_name_(table.name), history_(std::move(client), std::move(table)) {}

  Status begin_call(const CallRecord& call) override {
    return history_.set_attributes(
        call.id, {{kFrom, call.from}, {kTo, call.to}, {kStarted, call.started_ms}});
  }

  Status end_call(const std::string& call_id, std::int64_t ended_ms,
                  const std::string& reason) override {
    return history_.set_attributes(call_id, {{kEnded, ended_ms}, {kEndReason, reason}});
  }

  Result<int> append_turn(const TurnRecord& turn) override {
    auto length = history_.append(turn.call_id, {message_from_turn(turn)});
    if (!length) return length.error();
    return static_cast<int>(*length) - 1;
  }

  // Read, append, write back: a call's tool calls come from its one node's one store writer, so
  // no other writer appends to this attribute meanwhile.
  Status append_tool_call(const ToolCallRecord& call) override {
    auto loaded = history_.load(call.call_id);
    if (!loaded) return loaded.error();
    json list = json::array();
    if (loaded->item.contains(kToolCalls) && loaded->item[kToolCalls].is_array()) {
      list = loaded->item[kToolCalls];
    }
    list.push_back({{"name", call.name},
                    {"arguments", call.arguments},
                    {"result", call.result},
                    {"ok", call.ok},
                    {"started_ms", call.started_ms},
                    {"duration_ms", call.duration_ms}});
    return history_.set_attributes(call.call_id, {{kToolCalls, std::move(list)}});
  }

  Result<std::vector<ToolCallRecord>> tool_calls(const std::string& call_id) override {
    auto loaded = history_.load(call_id);
    if (!loaded) return loaded.error();
    std::vector<ToolCallRecord> out;
    if (!loaded->item.contains(kToolCalls) || !loaded->item[kToolCalls].is_array()) return out;
    for (const json& entry : loaded->item[kToolCalls]) {
      if (!entry.is_object()) continue;
      ToolCallRecord t;
      t.call_id = call_id;
      t.index = static_cast<int>(out.size());
      t.name = string_field(entry, "name");
      t.arguments = string_field(entry, "arguments");
      t.result = string_field(entry, "result");
      t.ok = entry.value("ok", false);
      t.started_ms = entry.value("started_ms", std::int64_t{0});
      t.duration_ms = entry.value("duration_ms", std::int64_t{0});
      out.push_back(std::move(t));
    }
    return out;
  }

  Result<std::optional<CallRecord>> call(const std::string& call_id) override {
    auto loaded = history_.load(call_id);
    if (!loaded) return loaded.error();
    if (!loaded->exists) return std::optional<CallRecord>{};
    auto call = call_from_item(call_id, loaded->item);
    if (call) return call;
    // A session LangChain or the Lambda wrote: it exists, without a call record.
    return std::optional<CallRecord>{CallRecord{call_id, "", "", 0, {}, "", ""}};
  }

  Result<std::vector<CallRecord>> recent_calls(int limit) override {
    // A Scan reads the whole table: fine for the CLI's occasional listing, not for hot paths.
    auto items = history_.scan({kFrom, kTo, kStarted, kEnded, kEndReason}, kMaxScanPages);
    if (!items) return items.error();
    std::vector<CallRecord> calls;
    for (const auto& item : *items) {
      if (auto call = call_from_item(string_field(item, "SessionId"), item)) calls.push_back(*call);
    }
    std::sort(calls.begin(), calls.end(),
              [](const CallRecord& a, const CallRecord& b) { return a.started_ms > b.started_ms; });
    if (limit >= 0 && calls.size() > static_cast<std::size_t>(limit))
      calls.resize(static_cast<std::size_t>(limit));
    return calls;
  }

  Result<std::vector<TurnRecord>> turns(const std::string& call_id) override {
    auto loaded = history_.load(call_id);
    if (!loaded) return loaded.error();
    std::vector<TurnRecord> turns;
    int index = 0;
    for (const auto& message : loaded->messages) {
      if (auto turn = turn_from_message(call_id, index, message)) turns.push_back(*turn);
      ++index;
    }
    return turns;
  }

  Status add_summary(const CallerSummary& summary) override {
    // One UpdateItem appends atomically: racing writers both land.
    auto reply = client_.call(
        "UpdateItem",
        {{"TableName", table_name_},
         {"Key", caller_key(summary.caller)},
         {"UpdateExpression", "SET #s = list_append(if_not_exists(#s, :empty), :new)"},
         {"ExpressionAttributeNames", {{"#s", kSummaries}}},
         {"ExpressionAttributeValues",
          {{":empty", {{"L", json::array()}}}, {":new", to_attribute_value(list_of({summary}))}}}});
    if (!reply) return reply.error();
    if (!reply->ok()) return dynamodb_error("add summary of call " + summary.call_id, *reply);
    return {};
  }

  Result<std::vector<CallerSummary>> summaries(const std::string& caller, int limit) override {
    if (limit < 0) return make_error("summaries: negative limit");
    auto all = load_summaries(caller);
    if (!all) return all.error();
    std::stable_sort(all->begin(), all->end(), [](const auto& a, const auto& b) {
      return a.created_ms < b.created_ms;
    });
    const auto keep = static_cast<std::size_t>(limit);
    if (all->size() > keep) all->erase(all->begin(), all->end() - static_cast<std::ptrdiff_t>(keep));
    return std::move(*all);
  }

  Result<std::int64_t> forget_caller(const std::string& caller) override {
    auto reply = client_.call("DeleteItem", {{"TableName", table_name_},
                                             {"Key", caller_key(caller)},
                                             {"ReturnValues", "ALL_OLD"}});
    if (!reply) return reply.error();
    if (!reply->ok()) return dynamodb_error("forget a caller", *reply);
    const auto old = reply->body.find("Attributes");
    if (old == reply->body.end()) return std::int64_t{0};
    auto plain = from_attribute_value({{"M", *old}});
    if (!plain) return std::int64_t{0};
    return static_cast<std::int64_t>(summaries_from(caller, plain->value(kSummaries, json())).size());
  }

  Result<std::int64_t> erase_summaries_before(std::int64_t cutoff_ms) override {
    auto items = history_.scan({kSummaries}, kMaxScanPages);
    if (!items) return items.error();
    std::int64_t erased = 0;
    for (const auto& item : *items) {
      const std::string key = string_field(item, "SessionId");
      if (!key.starts_with(kCallerKeyPrefix) || !item.contains(kSummaries)) continue;
      auto count = erase_older(key.substr(std::string_view(kCallerKeyPrefix).size()), cutoff_ms,
                               summaries_from("", item[kSummaries]));
      if (!count) return count.error();
      erased += *count;
    }
    return erased;
  }

 private:
  Result<std::vector<CallerSummary>> load_summaries(const std::string& caller) {
    auto reply = client_.call("GetItem", {{"TableName", table_name_},
                                          {"Key", caller_key(caller)},
                                          {"ConsistentRead", true}});
    if (!reply) return reply.error();
    if (!reply->ok()) return dynamodb_error("read summaries", *reply);
    const auto item = reply->body.find("Item");
    if (item == reply->body.end()) return std::vector<CallerSummary>{};
    auto plain = from_attribute_value({{"M", *item}});
    if (!plain) return plain.error();
    return summaries_from(caller, plain->value(kSummaries, json()));
  }

  // Rewrites one caller's list without the summaries created before `cutoff_ms` (deleting the
  // item when none is left), on the condition that nobody appended meanwhile; re-reads and tries
  // again when somebody did.
  Result<std::int64_t> erase_older(const std::string& caller, std::int64_t cutoff_ms,
                                   std::vector<CallerSummary> all) {
    for (int attempt = 0; attempt < kMaxEraseAttempts; ++attempt) {
      std::vector<CallerSummary> kept;
      for (const auto& s : all) {
        if (s.created_ms >= cutoff_ms) kept.push_back(s);
      }
      const auto erased = static_cast<std::int64_t>(all.size() - kept.size());
      if (erased == 0) return std::int64_t{0};
      json request{{"TableName", table_name_},
                   {"Key", caller_key(caller)},
                   {"ConditionExpression", "size(#s) = :n"},
                   {"ExpressionAttributeNames", {{"#s", kSummaries}}},
                   {"ExpressionAttributeValues",
                    {{":n", {{"N", std::to_string(all.size())}}}}}};
      const char* operation = "DeleteItem";
      if (!kept.empty()) {
        operation = "UpdateItem";
        request["UpdateExpression"] = "SET #s = :kept";
        request["ExpressionAttributeValues"][":kept"] = to_attribute_value(list_of(kept));
      }
      auto reply = client_.call(operation, request);
      if (!reply) return reply.error();
      if (reply->ok()) return erased;
      if (reply->error_type != "ConditionalCheckFailedException") {
        return dynamodb_error("erase old summaries", *reply);
      }
      auto reloaded = load_summaries(caller);
      if (!reloaded) return reloaded.error();
      all = std::move(*reloaded);
    }
    return make_error("dynamodb: summaries of a caller still contended after " +
                      std::to_string(kMaxEraseAttempts) + " attempts");
  }

  DynamoDbClient client_;
  std::string table_name_;
  DynamoDbChatHistory history_;
};

}  // namespace

std::optional<TurnRecord> turn_from_message(const std::string& call_id, int index,
                                            const json& message) {
  const std::string type = string_field(message, "type");
  if ((type != "human" && type != "ai") || !message.contains("data")) return std::nullopt;
  const json& data = message.at("data");
  if (!data.is_object() || !data.contains("content") || !data.at("content").is_string()) {
    return std::nullopt;
  }
  TurnRecord turn;
  turn.call_id = call_id;
  turn.index = index;
  turn.role = type == "human" ? "user" : "assistant";
  turn.text = data.at("content").get<std::string>();
  if (const auto ours = data.find("chalkbot"); ours != data.end() && ours->is_object()) {
    const auto interrupted = ours->find("interrupted");
    turn.interrupted =
        interrupted != ours->end() && interrupted->is_boolean() && interrupted->get<bool>();
    if (const auto times = ours->find("times"); times != ours->end() && times->is_object()) {
      for (const auto& [name, field] : kStages) {
        const auto stamp = times->find(name);
        if (stamp != times->end() && stamp->is_number_integer()) {
          turn.times.*field = stamp->get<std::int64_t>();
        }
      }
    }
  }
  return turn;
}

json message_from_turn(const TurnRecord& turn) {
  json times = json::object();
  for (const auto& [name, field] : kStages) {
    if (turn.times.*field) times[name] = *(turn.times.*field);
  }
  json ours{{"interrupted", turn.interrupted}};
  if (!times.empty()) ours["times"] = std::move(times);
  return langchain_message(turn.role == "user" ? "human" : "ai", turn.text, ours);
}

Result<std::unique_ptr<ConversationStore>> open_dynamodb_store(const StoreSettings& settings,
                                                               const EnvLookup& env) {
  if (settings.dynamodb_table.empty()) {
    return make_error("store.dynamodb_table: empty (the LangChain history table's name)");
  }
  auto endpoint = dynamodb_endpoint_from(settings.dynamodb_endpoint, settings.dynamodb_region,
                                         settings.dynamodb_timeout_ms, env);
  if (!endpoint) return endpoint.error();
  HistoryTable table{settings.dynamodb_table, settings.dynamodb_ttl_s,
                     settings.dynamodb_ttl_attribute};
  return std::unique_ptr<ConversationStore>(
      std::make_unique<DynamoDbStore>(DynamoDbClient(std::move(*endpoint)), std::move(table)));
}

}  // namespace chalkbot
