#pragma once
// Checks a tool call's arguments against the tool's JSON Schema before anything leaves the process.
// A documented subset of JSON Schema, enough for tool parameters:
//   type (object, array, string, integer, number, boolean, null; or a list of them),
//   properties, required, additionalProperties: false, enum, minimum, maximum,
//   minLength, maxLength, items.
// Other keywords are not enforced; tools_schema_problem() reports them at startup so a flow file
// never believes a rule is checked when it is not.
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "core/result.h"

namespace chalkbot {

// Ok, or an error naming the first argument that breaks the schema (e.g. "$.order_id: expected
// integer"), short enough to hand back to the model as the tool's error result.
Status validate_tool_arguments(const nlohmann::json& schema, const nlohmann::json& arguments);

// Empty when every keyword in `schema` is one validate_tool_arguments enforces (descriptions and
// titles are allowed); otherwise names the first one that is not, with its path.
std::string tools_schema_problem(const nlohmann::json& schema);

}  // namespace chalkbot
