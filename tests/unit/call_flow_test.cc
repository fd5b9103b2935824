#include <gtest/gtest.h>

#include "agent/call_flow.h"

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

}  // namespace
}  // namespace chalkbot
