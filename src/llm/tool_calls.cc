#include "llm/tool_calls.h"

#include <nlohmann/json.hpp>

namespace chalkbot {

using nlohmann::json;

namespace {

// Appends a string field of a delta when present: the id and name usually come whole in the first
// piece, but nothing in the protocol forbids splitting them, so they are joined like arguments.
void append_string(const json& object, const char* key, std::string& into) {
  const auto it = object.find(key);
  if (it != object.end() && it->is_string()) into += it->get_ref<const std::string&>();
}

}  // namespace

Status ToolCallAssembler::add(const json& tool_call_deltas) {
  if (!tool_call_deltas.is_array()) {
    return make_error(ErrorKind::kMalformed, "tool_calls in a chat delta is not an array");
  }
  for (const json& piece : tool_call_deltas) {
    if (!piece.is_object()) {
      return make_error(ErrorKind::kMalformed, "a tool_calls delta is not an object");
    }
    const auto index = piece.find("index");
    if (index == piece.end() || !index->is_number_integer()) {
      return make_error(ErrorKind::kMalformed, "a tool_calls delta has no integer index");
    }
    ToolCall& call = calls_[index->get<int>()];
    append_string(piece, "id", call.id);
    const auto function = piece.find("function");
    if (function != piece.end() && function->is_object()) {
      append_string(*function, "name", call.name);
      append_string(*function, "arguments", call.arguments);
    }
  }
  return {};
}

Result<std::vector<ToolCall>> ToolCallAssembler::finish() const {
  std::vector<ToolCall> calls;
  calls.reserve(calls_.size());
  for (const auto& [index, call] : calls_) {
    if (call.name.empty()) {
      return make_error(ErrorKind::kMalformed,
                        "tool call " + std::to_string(index) + " in the chat stream has no name");
    }
    calls.push_back(call);
    // Some servers leave out the id; the tool message must still answer this exact call.
    if (calls.back().id.empty()) calls.back().id = "call_" + std::to_string(index);
    // A call without arguments means "no arguments", which is an empty object, not empty text.
    if (calls.back().arguments.empty()) calls.back().arguments = "{}";
  }
  return calls;
}

Result<json> tools_request_json(const std::vector<ToolSpec>& specs) {
  json tools = json::array();
  for (const ToolSpec& spec : specs) {
    json parameters = spec.parameters_json.empty()
                          ? json::object()
                          : json::parse(spec.parameters_json, nullptr, false);
    if (parameters.is_discarded() || !parameters.is_object()) {
      return make_error("tool '" + spec.name + "': parameters is not a JSON object");
    }
    if (parameters.empty()) parameters = {{"type", "object"}, {"properties", json::object()}};
    json function = {{"name", spec.name}, {"parameters", std::move(parameters)}};
    if (!spec.description.empty()) function["description"] = spec.description;
    tools.push_back({{"type", "function"}, {"function", std::move(function)}});
  }
  return tools;
}

}  // namespace chalkbot
