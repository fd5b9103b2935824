// The AWS pieces that need no server: DynamoDB attribute values and LangChain's item shape, Lex V2
// events and responses, and the Amazon Connect flow import.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>

#include "aws/connect_flow.h"
#include "aws/lex.h"
#include "store/chat_history.h"
#include "store/dynamodb.h"
#include "store/dynamodb_store.h"
#include "support/subprocess.h"

namespace chalkbot {
namespace {

using nlohmann::json;

std::string data_file(const std::string& name) {
  return testing::read_file(std::string(CHALKBOT_TEST_DIR) + "/data/aws/" + name);
}

TEST(DynamoDbAttributes, PlainJsonRoundTripsThroughTypedValues) {
  const json plain = {{"s", "text"},
                      {"n", 42},
                      {"f", 1.5},
                      {"b", true},
                      {"z", nullptr},
                      {"l", {1, "two", json::object()}},
                      {"m", {{"inner", json::array()}}}};
  const json typed = to_attribute_value(plain);
  EXPECT_EQ(typed["M"]["s"], json({{"S", "text"}}));
  EXPECT_EQ(typed["M"]["n"], json({{"N", "42"}}));  // numbers travel as strings
  EXPECT_EQ(typed["M"]["b"], json({{"BOOL", true}}));
  EXPECT_EQ(typed["M"]["z"], json({{"NULL", true}}));
  EXPECT_EQ(typed["M"]["l"]["L"][2], json({{"M", json::object()}}));
  auto back = from_attribute_value(typed);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, plain);
}

TEST(DynamoDbAttributes, SetsAreReadAsListsAndUnknownTypesFail) {
  EXPECT_EQ(*from_attribute_value({{"SS", {"a", "b"}}}), json({"a", "b"}));
  EXPECT_EQ(*from_attribute_value({{"NS", {"1", "2.5"}}}), json({1, 2.5}));
  EXPECT_FALSE(from_attribute_value({{"B", "AAEC"}}).ok());
  EXPECT_FALSE(from_attribute_value({{"N", "twelve"}}).ok());
  EXPECT_FALSE(from_attribute_value({{"S", "a"}, {"N", "1"}}).ok());
  EXPECT_FALSE(from_attribute_value("S").ok());
}

TEST(DynamoDbEndpoint, RegionAndCredentialsComeFromTheEnvironment) {
  std::map<std::string, std::string> env{{"AWS_REGION", "eu-west-1"},
                                         {"AWS_ACCESS_KEY_ID", "AKID"},
                                         {"AWS_SECRET_ACCESS_KEY", "secret"}};
  const EnvLookup lookup = [&env](const std::string& name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  auto endpoint = dynamodb_endpoint_from("", "", 1000, lookup);
  ASSERT_TRUE(endpoint.ok()) << endpoint.error().message;
  EXPECT_EQ(endpoint->url, "https://dynamodb.eu-west-1.amazonaws.com");
  EXPECT_EQ(endpoint->credentials.session_token, "");
  EXPECT_EQ(dynamodb_endpoint_from("http://127.0.0.1:8000/", "us-east-2", 1000, lookup)->url,
            "http://127.0.0.1:8000");

  env.erase("AWS_SECRET_ACCESS_KEY");
  auto no_secret = dynamodb_endpoint_from("", "", 1000, lookup);
  ASSERT_FALSE(no_secret.ok());
  EXPECT_NE(no_secret.error().message.find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
  EXPECT_EQ(no_secret.error().message.find("AKID"), std::string::npos);  // no secrets in errors
  env.erase("AWS_REGION");
  EXPECT_NE(dynamodb_endpoint_from("", "", 1000, lookup).error().message.find("AWS_REGION"),
            std::string::npos);
}

TEST(LangChainShape, MessagesCarryTheFieldsLangChainWrites) {
  const json message = langchain_message("human", "hello");
  EXPECT_EQ(message["type"], "human");
  EXPECT_EQ(message["data"]["content"], "hello");
  EXPECT_EQ(message["data"]["type"], "human");
  EXPECT_EQ(message["data"]["additional_kwargs"], json::object());
  EXPECT_EQ(message["data"]["example"], false);
  EXPECT_FALSE(message["data"].contains("chalkbot"));
  EXPECT_FALSE(langchain_message("system", "rules")["data"].contains("example"));
}

TEST(LangChainShape, ForeignDataOfTheWrongShapeIsSkippedNotThrown) {
  EXPECT_FALSE(turn_from_message("c", 0, {{"type", "ai"}}).has_value());
  EXPECT_FALSE(turn_from_message("c", 0, json::array()).has_value());
  EXPECT_FALSE(turn_from_message("c", 0, {{"type", 7}, {"data", {{"content", "x"}}}}).has_value());
  auto odd = turn_from_message(
      "c", 0,
      {{"type", "ai"}, {"data", {{"content", "x"}, {"chalkbot", {{"interrupted", "yes"}}}}}});
  ASSERT_TRUE(odd.has_value());
  EXPECT_FALSE(odd->interrupted);
  EXPECT_EQ(string_field({{"k", "v"}}, "k"), "v");
  EXPECT_EQ(string_field({{"k", 1}}, "k"), "");
  EXPECT_EQ(string_field("k", "k"), "");
}

TEST(LangChainShape, TurnsBecomeMessagesAndBack) {
  TurnRecord answer{"call-1", 0, "assistant", "Paris.", true, {}};
  answer.times.llm_first_token = 1000;
  answer.times.done = 1500;
  const json message = message_from_turn(answer);
  EXPECT_EQ(message["type"], "ai");
  EXPECT_EQ(message["data"]["chalkbot"]["times"]["done"], 1500);
  auto back = turn_from_message("call-1", 3, message);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->role, "assistant");
  EXPECT_EQ(back->text, "Paris.");
  EXPECT_EQ(back->index, 3);
  EXPECT_TRUE(back->interrupted);
  EXPECT_EQ(back->times.llm_first_token, 1000);
  EXPECT_FALSE(back->times.speech_start.has_value());

  // What LangChain itself writes: no chalkbot data; system and tool messages are not turns.
  auto theirs = turn_from_message("c", 0, {{"type", "human"}, {"data", {{"content", "hi"}}}});
  ASSERT_TRUE(theirs.has_value());
  EXPECT_EQ(theirs->role, "user");
  EXPECT_FALSE(turn_from_message("c", 0, langchain_message("system", "rules")).has_value());
  EXPECT_FALSE(turn_from_message("c", 0, {{"type", "ai"}, {"data", {{"content", json::array()}}}}));
}

TEST(LangChainShape, HistoryFromItemRejectsWhatIsNotAHistory) {
  EXPECT_TRUE(history_from_item({{"SessionId", "a"}})->empty());
  EXPECT_EQ(history_from_item({{"History", {langchain_message("ai", "x")}}})->size(), 1u);
  EXPECT_FALSE(history_from_item({{"History", "text"}}).ok());
  EXPECT_FALSE(history_from_item({{"History", {{{"type", "ai"}}}}}).ok());
}

TEST(LexV2, ParsesTheDocumentedEventAndIgnoresOtherFields) {
  auto event = parse_lex_event(data_file("lex_v2_event.json"));
  ASSERT_TRUE(event.ok()) << event.error().message;
  EXPECT_EQ(event->session_id, "contact-0001");
  EXPECT_EQ(event->transcript, "what is the capital of france");
  EXPECT_EQ(event->intent_name, "FallbackIntent");
  EXPECT_EQ(event->session_attributes["callerNumber"], "+15550100");
}

TEST(LexV2, MalformedEventsAreErrorsNotCrashes) {
  EXPECT_FALSE(parse_lex_event("").ok());
  EXPECT_FALSE(parse_lex_event("{\"sessionId\": ").ok());
  EXPECT_FALSE(parse_lex_event("[1, 2]").ok());
  EXPECT_FALSE(parse_lex_event("{\"inputTranscript\": \"hi\"}").ok());
  EXPECT_FALSE(parse_lex_event("{\"sessionId\": 12}").ok());
  // Wrong types in fields we only read are tolerated.
  auto odd = parse_lex_event(
      R"({"sessionId": "s", "inputTranscript": 5, "sessionState": {"intent": "x",
          "sessionAttributes": []}})");
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->transcript, "");
  EXPECT_EQ(odd->session_attributes, json::object());
}

TEST(LexV2, ResponsesHaveTheDocumentedShape) {
  LexEvent event{"s", "hi", "FallbackIntent", {{"k", "v"}}};
  const json elicit = lex_response(event, LexDialog::kElicitIntent, "Hello there.");
  EXPECT_EQ(elicit["sessionState"]["dialogAction"]["type"], "ElicitIntent");
  EXPECT_EQ(elicit["sessionState"]["sessionAttributes"]["k"], "v");
  EXPECT_FALSE(elicit["sessionState"].contains("intent"));
  EXPECT_EQ(elicit["messages"],
            json::parse(R"([{"contentType": "PlainText", "content": "Hello there."}])"));

  const json close = lex_response(LexEvent{"s", "bye", "", {}}, LexDialog::kClose, "Bye.");
  EXPECT_EQ(close["sessionState"]["dialogAction"]["type"], "Close");
  EXPECT_EQ(close["sessionState"]["intent"]["name"], "FallbackIntent");
  EXPECT_EQ(close["sessionState"]["intent"]["state"], "Fulfilled");
}

const FlowSetting* find_setting(const FlowImport& import, const std::string& key) {
  for (const auto& s : import.settings) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

TEST(ConnectFlowImport, MapsGreetingLexLoopRepromptFarewellAndVoice) {
  auto import = import_connect_flow(data_file("connect_flow_lex_loop.json"));
  ASSERT_TRUE(import.ok()) << import.error().message;
  ASSERT_NE(find_setting(*import, "flow.greeting"), nullptr);
  EXPECT_EQ(find_setting(*import, "flow.greeting")->value,
            "Thanks for calling Chalk and Cheese. How can I help you today?");
  EXPECT_EQ(find_setting(*import, "flow.reprompt")->value,
            "Sorry, I did not catch that. What can I do for you?");
  EXPECT_EQ(find_setting(*import, "flow.farewell")->value, "Goodbye, and thanks for calling.");
  EXPECT_EQ(find_setting(*import, "tts.provider")->value, "espeak");
  EXPECT_EQ(find_setting(*import, "tts.voice")->value, "en-us+f3");
  EXPECT_TRUE(import->unmapped.empty());
  EXPECT_EQ(import->settings.size(), 5u);

  const std::string yaml = flow_import_to_yaml(*import);
  EXPECT_NE(yaml.find("flow:\n"), std::string::npos);
  EXPECT_NE(yaml.find("  greeting: \"Thanks for calling"), std::string::npos);
}

TEST(ConnectFlowImport, NamesEveryBlockItCannotMap) {
  auto import = import_connect_flow(data_file("connect_flow_unsupported.json"));
  ASSERT_TRUE(import.ok()) << import.error().message;
  ASSERT_EQ(import->unmapped.size(), 2u);
  EXPECT_EQ(import->unmapped[0].type, "CheckHoursOfOperation");
  EXPECT_EQ(import->unmapped[0].identifier, "b2000000-0000-4000-8000-000000000001");
  EXPECT_EQ(import->unmapped[1].type, "TransferParticipantToThirdParty");
  EXPECT_NE(import->unmapped[1].reason.find("+15550199"), std::string::npos);
  // What could be mapped still is.
  EXPECT_NE(find_setting(*import, "flow.farewell"), nullptr);
  EXPECT_NE(flow_import_to_yaml(*import).find("# unmapped: TransferParticipantToThirdParty"),
            std::string::npos);
}

TEST(ConnectFlowImport, ATransferGoesThroughTheTrunkItIsGiven) {
  auto import = import_connect_flow(data_file("connect_flow_unsupported.json"),
                                    {"sip.provider.example"});
  ASSERT_TRUE(import.ok()) << import.error().message;
  const FlowSetting* transfer = find_setting(*import, "flow.transfer_to");
  ASSERT_NE(transfer, nullptr);
  EXPECT_EQ(transfer->value, "sip:+15550199@sip.provider.example;user=phone");
  EXPECT_EQ(transfer->from, "TransferParticipantToThirdParty b2000000-0000-4000-8000-000000000002");
  // ... and the model may decide it too: the block maps to the built-in tool.
  const FlowSetting* tool = find_setting(*import, "tools.builtin");
  ASSERT_NE(tool, nullptr);
  EXPECT_EQ(tool->value, "transfer_to_person");
  ASSERT_EQ(import->unmapped.size(), 1u);  // the hours check
  EXPECT_EQ(import->unmapped[0].type, "CheckHoursOfOperation");

  auto bad_host = import_connect_flow(data_file("connect_flow_unsupported.json"),
                                      {"user@sip.provider.example"});
  ASSERT_FALSE(bad_host.ok());
  EXPECT_NE(bad_host.error().message.find("--transfer-via"), std::string::npos);
}

TEST(ConnectFlowImport, RejectsWhatIsNotAFlowExport) {
  EXPECT_FALSE(import_connect_flow("not json").ok());
  EXPECT_FALSE(import_connect_flow(R"({"Version": "2019-10-30"})").ok());
  EXPECT_FALSE(import_connect_flow(R"({"StartAction": "x", "Actions": []})").ok());
  EXPECT_FALSE(import_connect_flow(R"({"StartAction": 5, "Actions": [{"Identifier": 5}]})").ok());
  auto unknown_voice = import_connect_flow(
      R"({"StartAction": "v", "Actions": [{"Identifier": "v",
          "Type": "UpdateContactTextToSpeechVoice", "Parameters": {"TextToSpeechVoice": "Hans"}}]})");
  ASSERT_TRUE(unknown_voice.ok());
  ASSERT_EQ(unknown_voice->unmapped.size(), 1u);
  EXPECT_NE(unknown_voice->unmapped[0].reason.find("Hans"), std::string::npos);
}

}  // namespace
}  // namespace chalkbot
