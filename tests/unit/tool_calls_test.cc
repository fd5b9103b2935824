#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/settings.h"
#include "llm/chat_model.h"
#include "llm/tool_calls.h"

namespace chalkbot {
namespace {

using nlohmann::json;

TEST(ToolCallAssembler, JoinsOneCallWhoseArgumentsArriveInPieces) {
  ToolCallAssembler assembler;
  ASSERT_TRUE(assembler.add(json::parse(
      R"([{"index":0,"id":"call_a","type":"function","function":{"name":"end_call","arguments":""}}])")));
  ASSERT_TRUE(assembler.add(json::parse(R"([{"index":0,"function":{"arguments":"{\"rea"}}])")));
  ASSERT_TRUE(
      assembler.add(json::parse(R"([{"index":0,"function":{"arguments":"son\":\"done\"}"}}])")));
  auto calls = assembler.finish();
  ASSERT_TRUE(calls) << calls.error().message;
  ASSERT_EQ(calls->size(), 1u);
  EXPECT_EQ((*calls)[0].id, "call_a");
  EXPECT_EQ((*calls)[0].name, "end_call");
  EXPECT_EQ(json::parse((*calls)[0].arguments), json({{"reason", "done"}}));
}

TEST(ToolCallAssembler, KeepsInterleavedCallsApartByIndexAndInIndexOrder) {
  ToolCallAssembler assembler;
  // The second call starts before the first one's arguments are complete.
  ASSERT_TRUE(assembler.add(json::parse(
      R"([{"index":1,"id":"call_b","function":{"name":"lookup_order","arguments":"{\"id\":"}}])")));
  ASSERT_TRUE(assembler.add(json::parse(
      R"([{"index":0,"id":"call_a","function":{"name":"transfer_to_person","arguments":"{}"}},
          {"index":1,"function":{"arguments":"42}"}}])")));
  auto calls = assembler.finish();
  ASSERT_TRUE(calls) << calls.error().message;
  ASSERT_EQ(calls->size(), 2u);
  EXPECT_EQ((*calls)[0].name, "transfer_to_person");
  EXPECT_EQ((*calls)[1].name, "lookup_order");
  EXPECT_EQ((*calls)[1].id, "call_b");
  EXPECT_EQ(json::parse((*calls)[1].arguments), json({{"id", 42}}));
}

TEST(ToolCallAssembler, GivesAnIdAndEmptyObjectWhenTheServerLeftThemOut) {
  ToolCallAssembler assembler;
  ASSERT_TRUE(assembler.add(json::parse(R"([{"index":3,"function":{"name":"end_call"}}])")));
  auto calls = assembler.finish();
  ASSERT_TRUE(calls);
  EXPECT_EQ((*calls)[0].id, "call_3");
  EXPECT_EQ((*calls)[0].arguments, "{}");
}

TEST(ToolCallAssembler, RejectsPiecesWithoutIndexAndCallsWithoutName) {
  ToolCallAssembler no_index;
  EXPECT_FALSE(no_index.add(json::parse(R"([{"function":{"name":"end_call"}}])")));
  EXPECT_FALSE(no_index.add(json::parse(R"({"index":0})")));

  ToolCallAssembler nameless;
  ASSERT_TRUE(nameless.add(json::parse(R"([{"index":0,"function":{"arguments":"{}"}}])")));
  auto calls = nameless.finish();
  ASSERT_FALSE(calls);
  EXPECT_NE(calls.error().message.find("no name"), std::string::npos);
}

TEST(ChatRequestBody, DeclaresToolsAndCarriesToolCallsAndToolResults) {
  LlmSettings settings;
  settings.model = "m";
  settings.system_prompt = "";
  const std::vector<ToolSpec> tools = {
      {"transfer_to_person", "Hand the caller to a person.",
       R"({"type":"object","properties":{"reason":{"type":"string"}},"required":["reason"]})"},
      {"end_call", "", ""}};
  ChatMessage asked{"assistant", ""};
  asked.tool_calls = {{"call_a", "transfer_to_person", R"({"reason":"billing"})"}};
  ChatMessage answered{"tool", R"({"ok":true})"};
  answered.tool_call_id = "call_a";
  auto body = chat_request_body(settings, {{"user", "a person please"}, asked, answered}, tools);
  ASSERT_TRUE(body) << body.error().message;
  const json parsed = json::parse(*body);

  ASSERT_EQ(parsed["tools"].size(), 2u);
  EXPECT_EQ(parsed["tools"][0]["type"], "function");
  EXPECT_EQ(parsed["tools"][0]["function"]["name"], "transfer_to_person");
  EXPECT_EQ(parsed["tools"][0]["function"]["parameters"]["required"][0], "reason");
  EXPECT_EQ(parsed["tools"][1]["function"]["parameters"]["type"], "object");
  EXPECT_FALSE(parsed["tools"][1]["function"].contains("description"));

  const json& messages = parsed["messages"];
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_TRUE(messages[1]["content"].is_null());
  EXPECT_EQ(messages[1]["tool_calls"][0]["id"], "call_a");
  EXPECT_EQ(messages[1]["tool_calls"][0]["function"]["arguments"], R"({"reason":"billing"})");
  EXPECT_EQ(messages[2]["role"], "tool");
  EXPECT_EQ(messages[2]["tool_call_id"], "call_a");
  EXPECT_FALSE(messages[0].contains("tool_calls"));
}

TEST(ChatRequestBody, NoToolsKeyWithoutToolsAndAnErrorForBadParameters) {
  LlmSettings settings;
  settings.model = "m";
  auto plain = chat_request_body(settings, {{"user", "hi"}}, {});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(json::parse(*plain).contains("tools"));

  auto bad = chat_request_body(settings, {{"user", "hi"}}, {{"lookup", "", "[1,2]"}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("lookup"), std::string::npos);
}

}  // namespace
}  // namespace chalkbot
