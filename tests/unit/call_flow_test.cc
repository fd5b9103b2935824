#include <gtest/gtest.h>

#include "agent/call_flow.h"
#include "llm/tool_calls.h"

namespace chalkbot {
namespace {

FlowSettings flow(std::string dtmf = "0=repeat,#=hangup",
                  std::string goodbyes = "goodbye,bye,that's all") {
  FlowSettings f;
  f.dtmf_actions = std::move(dtmf);
  f.goodbye_phrases = std::move(goodbyes);
  return f;
}

TEST(CallFlow, DtmfActions) {
  auto f = CallFlow::from(flow());
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->action_for('0'), DtmfAction::kRepeat);
  EXPECT_EQ(f->action_for('#'), DtmfAction::kHangup);
  EXPECT_EQ(f->action_for('5'), DtmfAction::kNone);
}

TEST(CallFlow, BadDtmfActionsAreNamed) {
  for (const char* bad : {"0=dance", "x=repeat", "00=repeat", "repeat"}) {
    auto f = CallFlow::from(flow(bad));
    ASSERT_FALSE(f.ok()) << bad;
    EXPECT_NE(f.error().message.find("flow.dtmf_actions"), std::string::npos);
  }
}

TEST(CallFlow, Goodbyes) {
  auto f = CallFlow::from(flow());
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->is_goodbye("Goodbye!"));
  EXPECT_TRUE(f->is_goodbye("ok bye now"));
  EXPECT_TRUE(f->is_goodbye("that's all, thanks"));
  EXPECT_FALSE(f->is_goodbye("how do I say goodbye in french to my friend"));
  EXPECT_FALSE(f->is_goodbye("what time is it"));
  EXPECT_FALSE(f->is_goodbye("byelaw"));  // whole words only
  EXPECT_FALSE(f->is_goodbye(""));
}

FlowSettings transfers_to(std::string uri, std::string dtmf = "0=transfer") {
  FlowSettings f = flow(std::move(dtmf));
  f.transfer_to = std::move(uri);
  f.transfer_phrases = "operator,talk to a person,talk to someone";
  return f;
}

TEST(CallFlow, TransferRequests) {
  auto f = CallFlow::from(transfers_to("sip:desk@pbx.example.com"));
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->action_for('0'), DtmfAction::kTransfer);
  EXPECT_TRUE(f->wants_transfer("operator"));
  EXPECT_TRUE(f->wants_transfer("can I talk to a person please"));
  EXPECT_TRUE(f->wants_transfer("I want to talk to someone"));
  EXPECT_TRUE(f->wants_transfer("I want to talk to an operator"));
  EXPECT_FALSE(f->wants_transfer("are you a person"));
  EXPECT_FALSE(f->wants_transfer("what does the operator precedence of plus and times mean in C"));
  EXPECT_FALSE(f->wants_transfer(""));

  // Without a destination nothing is a transfer request.
  auto off = CallFlow::from(flow());
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->wants_transfer("operator"));
}

TEST(CallFlow, BadTransferSettingsAreNamed) {
  auto no_uri = CallFlow::from(transfers_to("desk@pbx.example.com"));
  ASSERT_FALSE(no_uri.ok());
  EXPECT_NE(no_uri.error().message.find("flow.transfer_to"), std::string::npos);

  auto nowhere = CallFlow::from(transfers_to(""));
  ASSERT_FALSE(nowhere.ok());
  EXPECT_NE(nowhere.error().message.find("flow.dtmf_actions"), std::string::npos);
  EXPECT_NE(nowhere.error().message.find("flow.transfer_to"), std::string::npos);
}

TEST(CallFlow, WordsOf) {
  EXPECT_EQ(words_of("It's 5 o'clock, OK?"),
            (std::vector<std::string>{"it's", "5", "o'clock", "ok"}));
}

TEST(CallTools, BuiltInsAreOfferedOnlyWhenTheyCanWork) {
  const EnvLookup no_env = [](const std::string&) { return std::optional<std::string>(); };
  ToolsSettings tools;
  tools.max_rounds = 3;
  FlowSettings flow_settings;
  tools.builtin = "end_call, transfer_to_person";
  auto no_target = CallTools::from(tools, flow_settings, no_env);
  ASSERT_FALSE(no_target.ok());
  EXPECT_NE(no_target.error().message.find("tools.builtin: transfer_to_person needs "
                                           "flow.transfer_to"),
            std::string::npos);
  flow_settings.transfer_to = "sip:desk@example.com";
  auto both = CallTools::from(tools, flow_settings, no_env);
  ASSERT_TRUE(both.ok()) << both.error().message;
  ASSERT_EQ(both->specs().size(), 2u);
  EXPECT_EQ(both->builtin("end_call"), BuiltinTool::kEndCall);
  EXPECT_EQ(both->builtin("transfer_to_person"), BuiltinTool::kTransferToPerson);
  EXPECT_EQ(both->builtin("order_status"), BuiltinTool::kNone);
  EXPECT_TRUE(tools_request_json(both->specs()).ok());
  tools.builtin = "end_call,fly_away";
  auto unknown = CallTools::from(tools, flow_settings, no_env);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message,
            "tools.builtin: 'fly_away' is not a built-in tool (transfer_to_person, end_call)");
  EXPECT_TRUE(CallTools::from({}, flow_settings, no_env)->empty());
  EXPECT_EQ(transfer_reason(R"({"reason": "billing"})"), "billing");
  EXPECT_EQ(transfer_reason("{"), "");
}

}  // namespace
}  // namespace chalkbot
