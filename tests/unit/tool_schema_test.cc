#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "llm/tool_schema.h"

namespace chalkbot {
namespace {

using nlohmann::json;

const json kOrderLookup = json::parse(R"({
  "type": "object",
  "properties": {
    "order_id": {"type": "integer", "minimum": 1, "maximum": 999999},
    "channel": {"type": "string", "enum": ["phone", "web"]},
    "note": {"type": "string", "maxLength": 5},
    "tags": {"type": "array", "items": {"type": "string"}}
  },
  "required": ["order_id"],
  "additionalProperties": false
})");

std::string problem(const json& arguments) {
  Status status = validate_tool_arguments(kOrderLookup, arguments);
  return status ? "" : status.error().message;
}

TEST(ToolSchema, AcceptsArgumentsThatFit) {
  EXPECT_EQ(problem({{"order_id", 42}}), "");
  EXPECT_EQ(problem({{"order_id", 42}, {"channel", "web"}, {"tags", {"a", "b"}}}), "");
}

TEST(ToolSchema, NamesTheArgumentThatBreaksEachRule) {
  EXPECT_EQ(problem(json::array()), "$: expected \"object\"");
  EXPECT_EQ(problem(json::object()), "$: missing required 'order_id'");
  EXPECT_EQ(problem({{"order_id", "42"}}), "$.order_id: expected \"integer\"");
  EXPECT_EQ(problem({{"order_id", 0}}), "$.order_id: below the minimum 1");
  EXPECT_EQ(problem({{"order_id", 1000000}}), "$.order_id: above the maximum 999999");
  EXPECT_EQ(problem({{"order_id", 1}, {"channel", "fax"}}),
            "$.channel: not one of [\"phone\",\"web\"]");
  EXPECT_EQ(problem({{"order_id", 1}, {"note", "too long"}}), "$.note: longer than 5");
  EXPECT_EQ(problem({{"order_id", 1}, {"tags", {"a", 2}}}), "$.tags[1]: expected \"string\"");
  EXPECT_EQ(problem({{"order_id", 1}, {"evil", true}}), "$: unexpected 'evil'");
}

TEST(ToolSchema, ReportsKeywordsItDoesNotEnforce) {
  EXPECT_EQ(tools_schema_problem(kOrderLookup), "");
  EXPECT_EQ(
      tools_schema_problem(json::parse(
          R"({"type":"object","properties":{"zip":{"type":"string","pattern":"^[0-9]+$"}}})")),
      "parameters.properties.zip.pattern: not a supported schema keyword");
  EXPECT_EQ(tools_schema_problem(json::parse(R"({"type":"object","properties":[]})")),
            "parameters.properties: must be an object");
}

}  // namespace
}  // namespace chalkbot
