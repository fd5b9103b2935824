// The gateway with its real SIP endpoint, media engine and call pool, called by sipp on loopback.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/conversation.h"
#include "agent/engines.h"
#include "core/work_pool.h"
#include "media/media_engine.h"
#include "server/gateway.h"
#include "support/subprocess.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

using namespace std::chrono_literals;
using chalkbot::testing::Subprocess;

template <class F>
bool eventually(F done, std::chrono::milliseconds timeout = 10s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = chalkbot::testing::make_temp_dir();
    settings_ = chalkbot::testing::default_settings();
    settings_.sip.bind_address = "127.0.0.1";
    settings_.sip.port = 0;
    settings_.sip.rate_limit_per_s = 0;
    settings_.media.rtp_port_min = 14600;
    settings_.media.rtp_port_max = 14699;
    settings_.asr.provider = "none";
    settings_.store.path = dir_ + "/calls.db";
    settings_.llm.base_url = "http://127.0.0.1:9/v1";  // never asked: no call says a word
    auto engines = open_engines(settings_);
    ASSERT_TRUE(engines.ok()) << engines.error().message;
    engines_ = std::move(*engines);
    auto flow = CallFlow::from(settings_.flow);
    ASSERT_TRUE(flow.ok()) << flow.error().message;
    flow_ = std::make_unique<CallFlow>(std::move(*flow));
    prompts_ = std::make_unique<PromptCache>(
        *engines_.tts, std::vector<std::string>{settings_.flow.greeting, settings_.flow.farewell,
                                                kApology});
    compute_ = std::make_unique<WorkPool>(1, "compute");
    services_ = std::make_unique<CallServices>(CallServices{
        *engines_.asr, *engines_.tts, *engines_.model, *engines_.store, settings_, *flow_,
        *prompts_, *compute_});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  Settings settings_;
  Engines engines_;
  std::unique_ptr<CallFlow> flow_;
  std::unique_ptr<PromptCache> prompts_;
  std::unique_ptr<WorkPool> compute_;
  std::unique_ptr<CallServices> services_;
};

// sipp's uac hangs up at once: the calls are over long before sofia-sip lets go of their
// transactions (64*T1), and before the owner's next reap(). Their media sessions and agents must
// not wait for either.
TEST_F(GatewayTest, AnEndedCallLetsGoOfItsMediaAtOnce) {
  const std::size_t sessions_before = MediaEngine::sessions_alive();
  Gateway gateway(*services_);
  ASSERT_TRUE(gateway.start().ok());
  Subprocess sipp({"sipp", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin", "-sn", "uac", "-m",
                   "5", "-r", "20", "-timeout", "20s", "-timeout_error",
                   "127.0.0.1:" + std::to_string(gateway.sip_port())},
                  dir_, "sipp");
  ASSERT_EQ(sipp.wait(30s), 0) << sipp.output();
  // No reap(): the gateway forgets each call as it ends.
  EXPECT_TRUE(eventually([&] { return gateway.active_calls() == 0; }))
      << gateway.active_calls() << " calls still held";
  // The media thread's last handles are freed by the next reap() (or the next INVITE).
  std::size_t ended = 0;
  EXPECT_TRUE(eventually([&] {
    ended += gateway.reap();
    return MediaEngine::sessions_alive() == sessions_before;
  })) << MediaEngine::sessions_alive() - sessions_before << " media sessions still alive";
  EXPECT_EQ(ended, 5u);
}

}  // namespace
}  // namespace chalkbot
