#pragma once
// Function tools for OpenAI-compatible chat: what the request declares (`tools`) and what the model
// answers with (`tool_calls`), which arrive streamed as index-keyed deltas: the id and name come in
// the first delta of a call, its arguments in pieces across later SSE events, and several calls may
// interleave in one answer.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/result.h"

namespace chalkbot {

// One function the model may call, as sent in the request's `tools` array.
struct ToolSpec {
  std::string name;
  std::string description;
  std::string parameters_json;  // a JSON Schema object, serialized ("{}" when it takes nothing)
};

// One call the model asked for. `arguments` is the model's JSON text as received: it is parsed
// (and validated) by whoever runs the tool, so a malformed one can become an error result.
struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;
};

// Joins the `delta.tool_calls` pieces of one streamed answer into whole calls.
class ToolCallAssembler {
 public:
  // Takes one chunk's `choices[0].delta.tool_calls` array. An error for a piece that is not an
  // object with an integer index (the stream is then not trustworthy).
  Status add(const nlohmann::json& tool_call_deltas);
  bool empty() const { return calls_.empty(); }
  // The calls in index order. An error names a call that never got a name.
  Result<std::vector<ToolCall>> finish() const;

 private:
  std::map<int, ToolCall> calls_;  // by the delta's index
};

// The request's `tools` array for these specs; an error names a spec whose parameters are not a
// JSON object.
Result<nlohmann::json> tools_request_json(const std::vector<ToolSpec>& specs);

}  // namespace chalkbot
