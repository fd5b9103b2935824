// SipEndpoint against a real peer: sipp (Debian sip-tester) run as a subprocess on loopback.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "sip/sip_endpoint.h"
#include "support/subprocess.h"
#include "support/test_support.h"

namespace chalkbot::sip {
namespace {

using namespace std::chrono_literals;
using chalkbot::testing::Subprocess;

// Records every callback; accepts at once or defers (rings) as told.
class RecordingHandler : public CallHandler {
 public:
  enum class Mode { kAccept, kDefer };

  Admission on_invite(const IncomingCall& call) override {
    std::lock_guard lock(mutex_);
    invites.push_back(call);
    cv_.notify_all();
    if (mode == Mode::kDefer) return Admission::defer();
    return Admission::accept({"", 40000, call.codec,
                              answer_dtmf ? call.remote.telephone_event_for(call.codec)
                                          : TelephoneEvent{}});
  }
  void on_established(CallId id) override {
    std::lock_guard lock(mutex_);
    established.push_back(id);
    cv_.notify_all();
  }
  void on_media_changed(CallId id, const RemoteMedia& remote) override {
    std::lock_guard lock(mutex_);
    media_changes.emplace_back(id, remote);
    cv_.notify_all();
  }
  void on_ended(CallId id, const CallEnd& end) override {
    std::lock_guard lock(mutex_);
    ended.emplace_back(id, end);
    cv_.notify_all();
  }
  void on_response_sent(int status) override {
    std::lock_guard lock(mutex_);
    responses.push_back(status);
  }

  bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, done);
  }
  template <class F>
  auto locked(F f) {
    std::lock_guard lock(mutex_);
    return f();
  }

  Mode mode = Mode::kAccept;  // set before the endpoint starts
  bool answer_dtmf = true;    // accept with the offer's telephone-event, or with none
  std::vector<IncomingCall> invites;
  std::vector<CallId> established;
  std::vector<std::pair<CallId, RemoteMedia>> media_changes;
  std::vector<std::pair<CallId, CallEnd>> ended;
  std::vector<int> responses;  // the status of each response the endpoint sent, in order

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
};

class OutgoingRecorder : public OutgoingCallHandler {
 public:
  void on_ringing(CallId) override { note([&] { ringing = true; }); }
  void on_answered(CallId, const RemoteMedia& r, const Codec& c, const SrtpKeys& k) override {
    note([&] {
      answered = true;
      remote = r;
      codec = c;
      srtp = k;
    });
  }
  void on_failed(CallId, int s, const std::string&) override { note([&] { failed = s; }); }
  void on_ended(CallId, const CallEnd& e) override {
    note([&] {
      ended = true;
      end = e;
    });
  }
  bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, done);
  }

  bool ringing = false;
  bool answered = false;
  bool ended = false;
  int failed = 0;
  RemoteMedia remote;
  Codec codec;
  SrtpKeys srtp;
  CallEnd end;

 private:
  template <class F>
  void note(F f) {
    std::lock_guard lock(mutex_);
    f();
    cv_.notify_all();
  }
  std::mutex mutex_;
  std::condition_variable cv_;
};

class SipEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = chalkbot::testing::make_temp_dir();
    const Settings settings = chalkbot::testing::default_settings();
    sip_ = settings.sip;
    media_ = settings.media;
    sip_.port = 0;
    sip_.user_agent = "Chalkbot-test";
  }
  void TearDown() override {
    endpoint_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  void start() {
    endpoint_ = std::make_unique<SipEndpoint>(sip_, media_, handler_);
    auto status = endpoint_->start();
    ASSERT_TRUE(status.ok()) << status.error().message;
    ASSERT_GT(endpoint_->port(), 0);
  }

  std::string scenario(const std::string& name) {
    return chalkbot::testing::tests_dir() + "/sipp/" + name;
  }

  // sipp as a UAC towards our endpoint. `args` e.g. {"-sf", file} or {"-sn", "uac"}.
  // `from`: the loopback address sipp sends from (all of 127/8 is ours).
  std::unique_ptr<Subprocess> sipp_uac(std::vector<std::string> args, const std::string& name,
                                       int calls = 1, const std::string& timeout = "25s",
                                       const std::string& from = "127.0.0.1") {
    std::vector<std::string> argv = {"sipp", "-i", from, "-mi", from, "-nostdin",
                                     "-timeout", timeout, "-timeout_error", "-trace_err",
                                     "-trace_msg", "-m", std::to_string(calls),
                                     "-p", std::to_string(chalkbot::testing::free_port())};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("127.0.0.1:" + std::to_string(endpoint_->port()));
    return std::make_unique<Subprocess>(argv, dir_, name);
  }

  // sipp as a server (UAS/registrar) on `port`.
  std::unique_ptr<Subprocess> sipp_server(std::vector<std::string> args, const std::string& name,
                                          int port) {
    std::vector<std::string> argv = {"sipp", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin",
                                     "-timeout", "25s", "-timeout_error", "-trace_err",
                                     "-trace_msg", "-m", "1", "-p", std::to_string(port)};
    argv.insert(argv.end(), args.begin(), args.end());
    return std::make_unique<Subprocess>(argv, dir_, name);
  }

  std::string logs() { return chalkbot::testing::read_files_matching(dir_, "_messages.log"); }
  std::string errors() { return chalkbot::testing::read_files_matching(dir_, "_errors.log"); }

  std::string dir_;
  SipSettings sip_;
  MediaSettings media_;
  RecordingHandler handler_;
  std::unique_ptr<SipEndpoint> endpoint_;
};

TEST_F(SipEndpointTest, OptionsAnswered200WithTrimmedCapabilities) {
  start();
  auto sipp = sipp_uac({"-sf", scenario("options.xml")}, "options");
  ASSERT_EQ(sipp->wait(20s), 0) << sipp->output() << errors();
  const std::string log = logs();
  const auto at = log.find("SIP/2.0 200");
  ASSERT_NE(at, std::string::npos) << log;
  const std::string reply = log.substr(at);
  EXPECT_NE(reply.find("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, NOTIFY"), std::string::npos)
      << reply;
  EXPECT_EQ(reply.find("MESSAGE"), std::string::npos) << reply;
  EXPECT_EQ(reply.find("SUBSCRIBE"), std::string::npos) << reply;
  EXPECT_EQ(reply.find("100rel"), std::string::npos) << reply;
  // nua puts sip.user_agent into responses as User-Agent (not Server).
  EXPECT_TRUE(reply.find("User-Agent: Chalkbot-test") != std::string::npos ||
              reply.find("Server: Chalkbot-test") != std::string::npos)
      << reply;
}

TEST_F(SipEndpointTest, BuiltinUac200CallsAt20PerSecond) {
  sip_.max_calls = 100;
  start();
  auto sipp = sipp_uac({"-sn", "uac", "-r", "20", "-l", "50"}, "uac200", 200);
  ASSERT_EQ(sipp->wait(40s), 0) << sipp->output() << errors();
  ASSERT_TRUE(handler_.wait_for([&] { return handler_.ended.size() == 200; }, 5s));
  handler_.locked([&] {
    EXPECT_EQ(handler_.invites.size(), 200u);
    EXPECT_EQ(handler_.established.size(), 200u);
    for (const auto& [id, end] : handler_.ended) {
      EXPECT_EQ(end.reason, EndReason::kRemoteBye) << id;
    }
    return 0;
  });
  EXPECT_EQ(endpoint_->active_calls(), 0u);
}

TEST_F(SipEndpointTest, CancelWhileRingingGets487) {
  handler_.mode = RecordingHandler::Mode::kDefer;
  start();
  auto sipp = sipp_uac({"-sf", scenario("uac_cancel.xml")}, "cancel");
  ASSERT_EQ(sipp->wait(20s), 0) << sipp->output() << errors();
  ASSERT_TRUE(handler_.wait_for([&] { return handler_.ended.size() == 1; }));
  handler_.locked([&] {
    EXPECT_EQ(handler_.ended[0].second.reason, EndReason::kCancelled);
    EXPECT_TRUE(handler_.established.empty());
    return 0;
  });
  EXPECT_EQ(endpoint_->active_calls(), 0u);
}

TEST_F(SipEndpointTest, DeferredCallAnsweredLater) {
  handler_.mode = RecordingHandler::Mode::kDefer;
  sip_.session_expires_s = 0;  // session timer off: no timer headers at all
  start();
  auto sipp = sipp_uac({"-sn", "uac"}, "deferred");
  ASSERT_TRUE(handler_.wait_for([&] { return handler_.invites.size() == 1; }));
  std::this_thread::sleep_for(200ms);  // ringing
  const IncomingCall call = handler_.locked([&] { return handler_.invites[0]; });
  endpoint_->answer(call.id, {"", 40010, call.codec, TelephoneEvent{}});
  ASSERT_EQ(sipp->wait(20s), 0) << sipp->output() << errors();
  ASSERT_TRUE(handler_.wait_for([&] { return handler_.ended.size() == 1; }));
  EXPECT_NE(logs().find("SIP/2.0 180 Ringing"), std::string::npos);
  EXPECT_NE(logs().find("m=audio 40010 RTP/AVP 0"), std::string::npos);
  EXPECT_EQ(logs().find("Session-Expires"), std::string::npos);
  // What the endpoint sent itself (the stack's own 100 Trying and 200 to the BYE are not seen).
  EXPECT_EQ(handler_.locked([&] { return handler_.responses; }), (std::vector<int>{180, 200}));
}

TEST_F(SipEndpointTest, PcmaOnlyOfferWithPcmuConfiguredGets488) {
  media_.codecs = "PCMU";
  start();
  auto sipp = sipp_uac({"-sf", scenario("uac_pcma_only_488.xml")}, "pcma488");
  ASSERT_EQ(sipp->wait(20s), 0) << sipp->output() << errors();
  EXPECT_TRUE(handler_.locked([&] { return handler_.invites.empty(); }));
}

TEST_F(SipEndpointTest, OpusIsAnsweredWithTelephoneEventsOnItsClock) {
  media_.codecs = "opus,PCMU";
  start();
  auto sipp = sipp_uac({"-sf", scenario("uac_opus_events.xml")}, "opusevents");
  ASSERT_EQ(sipp->wait(20s), 0) << sipp->output() << errors();
  const IncomingCall call = handler_.locked([&] { return handler_.invites.at(0); });
  EXPECT_EQ(call.codec.name, "OPUS");
  EXPECT_EQ(call.remote.telephone_event_for(call.codec), (TelephoneEvent{110, 48000}));
}

TEST_F(SipEndpointTest, SourceOutsideAllowNetworksGets403) {
  sip_.allow_networks = "10.0.0.0/8";
  start();
  auto sipp = sipp_uac({"-sf", scenario("uac_expect_403.xml")}, "forbidden");
  ASSERT_EQ(sipp->wait(20s), 0) << sipp->output() << errors();
  EXPECT_TRUE(handler_.locked([&] { return handler_.invites.empty(); }));
  // Refusals are counted by the handler too (the server's chalkbot_sip_responses_total).
  EXPECT_EQ(handler_.locked([&] { return handler_.responses; }), std::vector<int>{403});
}

TEST_F(SipEndpointTest, CallerNotInAllowCallersGets403) {
  sip_.allow_callers = "alice@";
  start();
  auto sipp = sipp_uac({"-sf", scenario("uac_expect_403.xml")}, "forbidden_caller");
  ASSERT_EQ(sipp->wait(20s), 0) << sipp->output() << errors();
  EXPECT_TRUE(handler_.locked([&] { return handler_.invites.empty(); }));
}

TEST_F(SipEndpointTest, SecondCallOverMaxCallsGets503WithRetryAfter) {
  sip_.max_calls = 1;
  sip_.retry_after_s = 7;
  start();
  auto first = sipp_uac({"-sn", "uac", "-d", "2000"}, "first");
  ASSERT_TRUE(handler_.wait_for([&] { return handler_.established.size() == 1; }));
  auto second = sipp_uac({"-sf", scenario("uac_expect_503.xml")}, "second");
  ASSERT_EQ(second->wait(20s), 0) << second->output() << errors();
  EXPECT_NE(logs().find("Retry-After: 7"), std::string::npos);
  ASSERT_EQ(first->wait(20s), 0) << first->output() << errors();
  EXPECT_EQ(handler_.locked([&] { return handler_.invites.size(); }), 1u);
}

TEST_F(SipEndpointTest, StopAcceptingGives503) {
  start();
  endpoint_->stop_accepting();
  auto sipp = sipp_uac({"-sf", scenario("uac_expect_503.xml")}, "draining");
  ASSERT_EQ(sipp->wait(20s), 0) << sipp->output() << errors();
}

TEST_F(SipEndpointTest, DrainingAnswersOptions503SoALoadBalancerMovesOn) {
  start();
  auto alive = sipp_uac({"-sf", scenario("options.xml")}, "options_alive");
  ASSERT_EQ(alive->wait(20s), 0) << alive->output() << errors();
  endpoint_->stop_accepting();
  auto draining = sipp_uac({"-sf", scenario("options_expect_503.xml")}, "options_draining");
  ASSERT_EQ(draining->wait(20s), 0) << draining->output() << errors();
}

TEST_F(SipEndpointTest, ReInviteSendOnlyReachesHandlerAsHold) {
  start();
  auto sipp = sipp_uac({"-sf", scenario("uac_reinvite_hold.xml")}, "hold");
  ASSERT_EQ(sipp->wait(20s), 0) << sipp->output() << errors();
  ASSERT_TRUE(handler_.wait_for([&] { return handler_.ended.size() == 1; }));
  handler_.locked([&] {
    EXPECT_EQ(handler_.established.size(), 1u);
    EXPECT_EQ(handler_.ended[0].second.reason, EndReason::kRemoteBye);
    EXPECT_EQ(handler_.media_changes.size(), 1u);
    if (!handler_.media_changes.empty()) {
      EXPECT_TRUE(handler_.media_changes[0].second.on_hold());
      EXPECT_EQ(handler_.media_changes[0].second.direction, Direction::kSendOnly);
    }
    return 0;
  });
}

// A call answered without DTMF stays without it when a re-offer names telephone-event: the
// application hears of the type we answered (none), not of the one offered.
TEST_F(SipEndpointTest, ReInviteReportsTheTelephoneEventWeAnswered) {
  handler_.answer_dtmf = false;
  start();
  auto sipp = sipp_uac({"-sf", scenario("uac_reinvite_hold.xml")}, "hold-nodtmf");
  ASSERT_EQ(sipp->wait(20s), 0) << sipp->output() << errors();
  ASSERT_TRUE(handler_.wait_for([&] { return handler_.ended.size() == 1; }));
  handler_.locked([&] {
    ASSERT_EQ(handler_.media_changes.size(), 1u);
    EXPECT_TRUE(handler_.media_changes[0].second.telephone_events.empty());
  });
}

TEST_F(SipEndpointTest, UpdateSendOnlyReachesHandlerAsHold) {
  start();
  auto sipp = sipp_uac({"-sf", scenario("uac_update_hold.xml")}, "update");
  ASSERT_EQ(sipp->wait(20s), 0) << sipp->output() << errors();
  ASSERT_TRUE(handler_.wait_for([&] { return handler_.ended.size() == 1; }));
  handler_.locked([&] {
    EXPECT_EQ(handler_.media_changes.size(), 1u);
    if (!handler_.media_changes.empty()) {
      EXPECT_TRUE(handler_.media_changes[0].second.on_hold());
    }
    return 0;
  });
}

TEST_F(SipEndpointTest, CallsOverTcp) {
  start();
  auto sipp = sipp_uac({"-sn", "uac", "-t", "t1", "-r", "10"}, "tcp", 10);
  ASSERT_EQ(sipp->wait(20s), 0) << sipp->output() << errors();
  ASSERT_TRUE(handler_.wait_for([&] { return handler_.ended.size() == 10; }));
  EXPECT_EQ(handler_.locked([&] { return handler_.established.size(); }), 10u);
}

TEST_F(SipEndpointTest, HangupFromAnotherThreadSendsBye) {
  start();
  auto sipp = sipp_uac({"-sf", scenario("uac_wait_bye.xml")}, "hangup");
  ASSERT_TRUE(handler_.wait_for([&] { return handler_.established.size() == 1; }));
  const CallId id = handler_.locked([&] { return handler_.established[0]; });
  std::thread([&] { endpoint_->hangup(id); }).join();
  ASSERT_EQ(sipp->wait(20s), 0) << sipp->output() << errors();
  ASSERT_TRUE(handler_.wait_for([&] { return handler_.ended.size() == 1; }));
  EXPECT_EQ(handler_.locked([&] { return handler_.ended[0].second.reason; }),
            EndReason::kLocalHangup);
}

TEST_F(SipEndpointTest, ShutdownByesActiveCalls) {
  start();
  auto sipp = sipp_uac({"-sf", scenario("uac_wait_bye.xml")}, "shutdown");
  ASSERT_TRUE(handler_.wait_for([&] { return handler_.established.size() == 1; }));
  endpoint_->shutdown();
  ASSERT_EQ(sipp->wait(20s), 0) << sipp->output() << errors();
  ASSERT_EQ(handler_.locked([&] { return handler_.ended.size(); }), 1u);
  EXPECT_EQ(handler_.locked([&] { return handler_.ended[0].second.reason; }),
            EndReason::kShutdown);
}

TEST_F(SipEndpointTest, RegistersWithDigestAndUnregistersOnShutdown) {
  const int registrar = chalkbot::testing::free_port();
  auto sipp = sipp_server({"-sf", scenario("registrar_digest.xml")}, "registrar", registrar);
  std::this_thread::sleep_for(300ms);  // let sipp bind
  sip_.register_uri = "sip:127.0.0.1:" + std::to_string(registrar);
  sip_.register_user = "alice";
  sip_.register_password = "s3cret";
  start();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!endpoint_->registration().registered && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  const auto state = endpoint_->registration();
  EXPECT_TRUE(state.enabled);
  ASSERT_TRUE(state.registered) << state.last_status << " " << state.last_phrase << "\n"
                                << sipp->output() << errors();
  EXPECT_EQ(state.last_status, 200);
  EXPECT_EQ(state.attempts, 2);  // 401, then 200
  endpoint_->shutdown();
  EXPECT_FALSE(endpoint_->registration().registered);
  ASSERT_EQ(sipp->wait(10s), 0) << sipp->output() << errors();
  const std::string log = logs();
  const auto second = log.find("REGISTER sip:", log.find("401 Unauthorized"));
  ASSERT_NE(second, std::string::npos) << log;
  EXPECT_NE(log.find("Authorization: Digest username=\"alice\"", second), std::string::npos)
      << log;
}

TEST_F(SipEndpointTest, PlaceCallToSippUasIsAnsweredAndHungUp) {
  start();
  const int uas_port = chalkbot::testing::free_port();
  auto uas = sipp_server({"-sn", "uas"}, "uas", uas_port);
  std::this_thread::sleep_for(300ms);
  auto out = std::make_shared<OutgoingRecorder>();
  auto id = endpoint_->place_call("sip:test@127.0.0.1:" + std::to_string(uas_port),
                                  {"", 40020, {}, 101}, out);
  ASSERT_TRUE(id.ok()) << id.error().message;
  ASSERT_TRUE(out->wait_for([&] { return out->answered || out->failed != 0; }))
      << uas->output();
  ASSERT_TRUE(out->answered) << out->failed;
  EXPECT_TRUE(out->ringing);
  EXPECT_EQ(out->codec.name, "PCMU");
  EXPECT_EQ(out->remote.ip, "127.0.0.1");
  EXPECT_GT(out->remote.port, 0);
  EXPECT_EQ(out->srtp.suite, "");  // media.srtp off: plain RTP offered and answered
  endpoint_->hangup(*id);
  ASSERT_TRUE(out->wait_for([&] { return out->ended; }));
  EXPECT_EQ(out->end.reason, EndReason::kLocalHangup);
  ASSERT_EQ(uas->wait(10s), 0) << uas->output() << errors();
  EXPECT_FALSE(endpoint_->place_call("tel:123", {}, out).ok());
}

TEST_F(SipEndpointTest, PlaceCallToNobodyFails) {
  start();
  auto out = std::make_shared<OutgoingRecorder>();
  // A TCP port nobody listens on: the connection is refused at once.
  auto id = endpoint_->place_call(
      "sip:nobody@127.0.0.1:" + std::to_string(chalkbot::testing::free_port()) +
          ";transport=tcp",
      {"", 40030, {}, -1}, out);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(out->wait_for([&] { return out->failed != 0; }, 20s));
  EXPECT_GE(out->failed, 400);
  EXPECT_FALSE(out->answered);
}

// A UDP socket on `ip` (loopback), any port.
int bound_udp(const char* ip = "127.0.0.1") {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in self{};
  self.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &self.sin_addr);
  bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof self);
  return fd;
}

int local_port(int fd) {
  sockaddr_in self{};
  socklen_t len = sizeof self;
  getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len);
  return ntohs(self.sin_port);
}

void send_udp(int fd, int port, const std::string& datagram) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
}

// Sends one datagram from a fresh socket and returns the first reply ('' if none within 2 s).
// "PORT" in the datagram becomes the socket's own port, so Via points back at it.
std::string udp_exchange(int port, std::string datagram) {
  const int fd = bound_udp();
  for (auto at = datagram.find("PORT"); at != std::string::npos; at = datagram.find("PORT")) {
    datagram.replace(at, 4, std::to_string(local_port(fd)));
  }
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  send_udp(fd, port, datagram);
  std::string reply;
  char buf[65536];
  // Skip provisional responses.
  while (true) {
    const auto n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    reply.assign(buf, static_cast<size_t>(n));
    if (reply.rfind("SIP/2.0 1", 0) != 0) break;
  }
  close(fd);
  return reply;
}

// sofia-sip's own diagnostics land in our log as "sofia: ..." lines (with time and level), not
// as bare text on stderr: here the ICMP "port unreachable" that each INVITE sent to a UDP port
// nobody listens on draws.
TEST_F(SipEndpointTest, SofiaDiagnosticsGoToOurLog) {
  // Log lines kept in memory; read under the sink's own lock (the SIP thread writes meanwhile).
  class Captured : public spdlog::sinks::base_sink<std::mutex> {
   public:
    std::string text() {
      std::lock_guard lock(mutex_);
      return text_;
    }

   protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
      spdlog::memory_buf_t line;
      formatter_->format(msg, line);
      text_.append(line.data(), line.size());
    }
    void flush_() override {}

   private:
    std::string text_;
  };
  const auto captured = std::make_shared<Captured>();
  // The endpoint stops before the logger it writes to goes away, also when an assertion fails.
  struct Restore {
    std::shared_ptr<spdlog::logger> logger;
    std::unique_ptr<SipEndpoint>& endpoint;
    ~Restore() {
      if (endpoint) endpoint->shutdown();
      spdlog::set_default_logger(logger);
    }
  } restore{spdlog::default_logger(), endpoint_};
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", captured));
  start();
  const int fd = bound_udp();
  const int closed_port = local_port(fd);
  close(fd);
  auto out = std::make_shared<OutgoingRecorder>();
  ASSERT_TRUE(endpoint_
                  ->place_call("sip:nobody@127.0.0.1:" + std::to_string(closed_port),
                               {"", 40040, {}, -1}, out)
                  .ok());
  const auto seen = [&] {
    return captured->text().find("[warning] sofia: tport_udp_error") != std::string::npos;
  };
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (!seen() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(seen()) << captured->text();
}

TEST_F(SipEndpointTest, TimerT2BelowT1IsRefusedAtStart) {
  sip_.timer_t1_ms = 1000;
  sip_.timer_t2_ms = 500;
  SipEndpoint endpoint(sip_, media_, handler_);
  const auto status = endpoint.start();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("sip.timer_t2_ms"), std::string::npos);
}

TEST_F(SipEndpointTest, MalformedSipDoesNotCrash) {
  start();
  const int port = endpoint_->port();
  // Pure garbage: dropped silently (no reply possible).
  EXPECT_EQ(udp_exchange(port, std::string("\x01\x02garbage\r\n\r\n", 13)), "");
  // A request with a broken header set: the stack answers 400 itself.
  const std::string broken =
      "INVITE sip:bot@127.0.0.1 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-broken1\r\n"
      "From: <sip:x@127.0.0.1>;tag=1\r\n"
      "To: <sip:bot@127.0.0.1>\r\n"
      "Call-ID: broken-1\r\n"
      "CSeq: notanumber INVITE\r\n"
      "Content-Length: 0\r\n\r\n";
  const std::string reply = udp_exchange(port, broken);
  EXPECT_EQ(reply.rfind("SIP/2.0 400", 0), 0u) << reply;
  // SDP that is not SDP: refused, not crashed.
  const std::string bad_sdp_body = "v=0\r\nm=audio notaport RTP/AVP 0\r\n";
  const std::string bad_sdp =
      "INVITE sip:bot@127.0.0.1 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-broken2\r\n"
      "From: <sip:x@127.0.0.1>;tag=2\r\n"
      "To: <sip:bot@127.0.0.1>\r\n"
      "Call-ID: broken-2\r\n"
      "CSeq: 1 INVITE\r\n"
      "Contact: <sip:x@127.0.0.1:PORT>\r\n"
      "Max-Forwards: 70\r\n"
      "Content-Type: application/sdp\r\n"
      "Content-Length: " + std::to_string(bad_sdp_body.size()) + "\r\n\r\n" + bad_sdp_body;
  const std::string sdp_reply = udp_exchange(port, bad_sdp);
  EXPECT_EQ(sdp_reply.rfind("SIP/2.0 488", 0), 0u) << sdp_reply;
  // Still alive.
  auto sipp = sipp_uac({"-sf", scenario("options.xml")}, "alive");
  ASSERT_EQ(sipp->wait(20s), 0) << sipp->output() << errors();
}

// A request from 127.0.0.1 ("PORT" = the sender's port): `method`, extra header lines, body.
std::string request(const std::string& method, const std::string& tag,
                    const std::string& extra_headers = "", const std::string& body = "") {
  std::string r = method + " sip:bot@127.0.0.1 SIP/2.0\r\n"
                  "Via: SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-" + tag + "\r\n"
                  "From: <sip:x@127.0.0.1>;tag=" + tag + "\r\n"
                  "To: <sip:bot@127.0.0.1>\r\n"
                  "Call-ID: " + tag + "\r\n"
                  "CSeq: 1 " + method + "\r\n"
                  "Contact: <sip:x@127.0.0.1:PORT>\r\n"
                  "Max-Forwards: 70\r\n" + extra_headers;
  if (!body.empty()) r += "Content-Type: application/sdp\r\n";
  return r + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string sdp_offer(const std::string& address, const std::string& payload_types,
                      const std::string& extra = "") {
  return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 " + address +
         "\r\nt=0 0\r\nm=audio 40100 RTP/AVP " + payload_types + "\r\n" + extra;
}

int status_of(const std::string& reply) {
  if (reply.rfind("SIP/2.0 ", 0) != 0 || reply.size() < 11) return 0;
  return std::atoi(reply.substr(8, 3).c_str());
}

// Sends `message` over a fresh TCP connection; the first reply, or '' if the server closed it
// or said nothing within 3 s.
std::string tcp_exchange(int port, const std::string& message) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) {
    timeval tv{3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    (void)send(fd, message.data(), message.size(), MSG_NOSIGNAL);
    char buf[4096];
    const auto n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) reply.assign(buf, static_cast<size_t>(n));
  }
  close(fd);
  return reply;
}

TEST_F(SipEndpointTest, HostileRequestsGetErrorsAndTheEndpointKeepsServing) {
  start();
  const int port = endpoint_->port();
  auto udp = [&](const std::string& m) { return status_of(udp_exchange(port, m)); };
  const std::string pcmu = sdp_offer("127.0.0.1", "0");

  // Methods we do not implement, and in-dialog requests without a dialog.
  const int unknown = udp(request("FROB", "unknown-1"));
  EXPECT_TRUE(unknown == 405 || unknown == 501) << unknown;
  EXPECT_EQ(udp(request("REGISTER", "register-1")), 405);
  EXPECT_EQ(udp(request("MESSAGE", "message-1")), 405);
  EXPECT_EQ(udp(request("BYE", "bye-1")), 481);
  // Bad SDP: no media, no common codec, an address that is not an IP, a huge body.
  EXPECT_EQ(udp(request("INVITE", "nomedia-1", "",
                        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n")),
            488);
  EXPECT_EQ(udp(request("INVITE", "g729-1", "", sdp_offer("127.0.0.1", "18"))), 488);
  EXPECT_EQ(udp(request("INVITE", "bogus-addr-1", "", sdp_offer("999.0.0.1", "0"))), 488);
  EXPECT_EQ(udp(request("INVITE", "bogus-addr-2", "", sdp_offer("pbx.invalid", "0"))), 488);
  std::string padding;
  while (padding.size() < 40000) padding += "a=x-padding:" + std::string(100, 'z') + "\r\n";
  EXPECT_EQ(udp(request("INVITE", "huge-sdp-1", "", sdp_offer("127.0.0.1", "0", padding))), 413);
  // Broken headers: the stack refuses them with 400 (or drops what it cannot answer).
  const int no_call_id = udp("OPTIONS sip:bot@127.0.0.1 SIP/2.0\r\n"
                             "Via: SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-nocid\r\n"
                             "From: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:bot@127.0.0.1>\r\n"
                             "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(no_call_id == 400 || no_call_id == 0) << no_call_id;
  std::string broken_from = request("INVITE", "badfrom-1", "", pcmu);
  broken_from.replace(broken_from.find("From: "), 6, "From: <<<>>>\r\nX-Was-From: ");
  const int bad_from = udp(broken_from);
  EXPECT_TRUE(bad_from == 400 || bad_from == 0) << bad_from;
  // A body shorter than its Content-Length (truncated datagram).
  std::string truncated = request("INVITE", "truncated-1", "", pcmu);
  truncated.resize(truncated.size() - 20);
  const int trunc = udp(truncated);
  EXPECT_TRUE(trunc == 400 || trunc == 0) << trunc;
  // A header 30 KB long, and binary junk after a valid start line.
  const int long_header = udp(request("OPTIONS", "longhdr-1",
                                      "X-Junk: " + std::string(30000, 'A') + "\r\n"));
  EXPECT_TRUE(long_header == 200 || long_header == 400 || long_header == 0) << long_header;
  const int junk = udp(std::string("OPTIONS sip:bot@127.0.0.1 SIP/2.0\r\n\0\xff\xfe\r\n\r\n", 43));
  EXPECT_TRUE(junk == 400 || junk == 0) << junk;
  // Oversized (over 64 KB, so TCP): refused or the connection closed, never read into a call.
  const std::string big_body(200000, 'v');
  const int oversized =
      status_of(tcp_exchange(port, request("INVITE", "oversized-1", "", big_body)));
  EXPECT_TRUE(oversized == 0 || oversized == 413 || oversized == 400 || oversized == 513)
      << oversized;

  // Nothing reached the application, and the endpoint still answers and takes a real call.
  EXPECT_TRUE(handler_.locked([&] { return handler_.invites.empty(); }));
  EXPECT_EQ(udp(request("OPTIONS", "alive-1")), 200);
  auto sipp = sipp_uac({"-sn", "uac"}, "after_hostile");
  ASSERT_EQ(sipp->wait(20s), 0) << sipp->output() << errors();
  EXPECT_EQ(handler_.locked([&] { return handler_.established.size(); }), 1u);
}

TEST_F(SipEndpointTest, DigestAuthChallengesThenAdmitsTheRightPassword) {
  sip_.auth_user = "caller";
  sip_.auth_password = "s3cret";
  start();
  // Without credentials: 401 with a challenge, nothing reaches the application.
  const std::string reply = udp_exchange(
      endpoint_->port(), request("INVITE", "noauth-1", "", sdp_offer("127.0.0.1", "0")));
  EXPECT_EQ(status_of(reply), 401) << reply;
  EXPECT_NE(reply.find("WWW-Authenticate: Digest realm=\"chalkbot\""), std::string::npos) << reply;
  EXPECT_TRUE(handler_.locked([&] { return handler_.invites.empty(); }));
  // A wrong password is challenged again (the scenario wants 200 after its retry: it fails).
  auto wrong = sipp_uac({"-sf", scenario("uac_digest.xml"), "-au", "caller", "-ap", "guess"},
                        "digest_wrong", 1, "4s");
  EXPECT_NE(wrong->wait(20s), 0);
  EXPECT_TRUE(handler_.locked([&] { return handler_.invites.empty(); }));
  // The right one is admitted.
  auto right = sipp_uac({"-sf", scenario("uac_digest.xml"), "-au", "caller", "-ap", "s3cret"},
                        "digest_right");
  ASSERT_EQ(right->wait(20s), 0) << right->output() << errors();
  EXPECT_EQ(handler_.locked([&] { return handler_.established.size(); }), 1u);
}

TEST_F(SipEndpointTest, ScannerUserAgentsAreRefusedBeforeTheApplication) {
  start();
  const int port = endpoint_->port();
  const std::string pcmu = sdp_offer("127.0.0.1", "0");
  EXPECT_EQ(status_of(udp_exchange(
                port, request("INVITE", "scan-1", "User-Agent: friendly-scanner\r\n", pcmu))),
            403);
  EXPECT_EQ(status_of(udp_exchange(
                port, request("OPTIONS", "scan-2", "User-Agent: SIPVicious 0.3\r\n"))),
            403);
  EXPECT_EQ(status_of(udp_exchange(
                port, request("OPTIONS", "friendly-1", "User-Agent: baresip v1.0\r\n"))),
            200);
  EXPECT_TRUE(handler_.locked([&] { return handler_.invites.empty(); }));
}

// Sends `count` OPTIONS from one socket on 127.0.0.1 as fast as the server answers them, and
// counts the answers.
struct FloodResult {
  int ok = 0;
  int limited = 0;  // 503 with Retry-After
  int other = 0;
};
FloodResult options_flood(int port, int count) {
  const int fd = bound_udp();
  const std::string me = std::to_string(local_port(fd));
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  FloodResult r;
  int answers = 0;
  char buf[4096];
  auto take = [&](int flags) {
    const auto n = recv(fd, buf, sizeof buf, flags);
    if (n <= 0) return false;
    const std::string reply(buf, static_cast<size_t>(n));
    const int status = status_of(reply);
    if (status == 200) ++r.ok;
    else if (status == 503 && reply.find("Retry-After: 5") != std::string::npos) ++r.limited;
    else ++r.other;
    ++answers;
    return true;
  };
  // At most 50 requests in flight: more would overflow the server's socket buffer (the kernel
  // drops them) and this test counts answers, not losses.
  for (int sent = 0; sent < count; ++sent) {
    while (sent - answers >= 50 && take(0)) {
    }
    std::string m = request("OPTIONS", "flood-" + std::to_string(sent));
    for (auto at = m.find("PORT"); at != std::string::npos; at = m.find("PORT")) {
      m.replace(at, 4, me);
    }
    send_udp(fd, port, m);
  }
  while (answers < count && take(0)) {
  }
  close(fd);
  return r;
}

TEST_F(SipEndpointTest, FloodFromOneAddressGets503WhileCallsAndOtherAddressesAreUnaffected) {
  sip_.rate_limit_per_s = 0.2;  // one token back every 5 s: the flooder stays limited below
  sip_.rate_limit_burst = 10;
  sip_.retry_after_s = 5;
  start();
  // A call from 127.0.0.2, in progress through the flood (its BYE comes after it).
  auto call = sipp_uac({"-sn", "uac", "-d", "3000"}, "in_progress", 1, "25s", "127.0.0.2");
  ASSERT_TRUE(handler_.wait_for([&] { return handler_.established.size() == 1; }));

  const FloodResult flood = options_flood(endpoint_->port(), 300);
  EXPECT_EQ(flood.other, 0);
  EXPECT_GE(flood.ok, 10);  // the burst
  EXPECT_LE(flood.ok, 11);  // and at most one token that refilled while the flood lasted
  EXPECT_EQ(flood.ok + flood.limited, 300);
  // New calls from the flooding address are refused too ...
  auto refused = sipp_uac({"-sf", scenario("uac_expect_503.xml")}, "flooder_invite");
  ASSERT_EQ(refused->wait(20s), 0) << refused->output() << errors();
  // ... while another address calls as usual, and the call in progress ends normally.
  auto other = sipp_uac({"-sn", "uac"}, "other_source", 1, "25s", "127.0.0.3");
  ASSERT_EQ(other->wait(20s), 0) << other->output() << errors();
  ASSERT_EQ(call->wait(20s), 0) << call->output() << errors();
  ASSERT_TRUE(handler_.wait_for([&] { return handler_.ended.size() == 2; }));
  handler_.locked([&] {
    EXPECT_EQ(handler_.invites.size(), 2u);
    for (const auto& [id, end] : handler_.ended) EXPECT_EQ(end.reason, EndReason::kRemoteBye);
    return 0;
  });
}

}  // namespace
}  // namespace chalkbot::sip

namespace chalkbot::sip {
namespace {

std::string proc_status(const std::string& key) {
  const std::string all = chalkbot::testing::read_file("/proc/self/status");
  const auto at = all.find(key + ":");
  if (at == std::string::npos) return "?";
  const auto end = all.find('\n', at);
  return all.substr(at + key.size() + 1, end - at - key.size() - 1);
}

// Measurement, not a check: CHALKBOT_SIP_LOAD="calls,rate[,rounds]" runs sipp's built-in uac
// at that rate (rounds 40 s apart, past sofia's 32 s transaction timers, to see whether RSS
// plateaus) and prints throughput, CPU and RSS. Skipped otherwise.
TEST_F(SipEndpointTest, LoadMeasurement) {
  const char* spec = std::getenv("CHALKBOT_SIP_LOAD");
  if (spec == nullptr) GTEST_SKIP() << "set CHALKBOT_SIP_LOAD=calls,rate[,rounds]";
  int calls = 0, rate = 0, rounds = 1;
  if (std::sscanf(spec, "%d,%d,%d", &calls, &rate, &rounds) < 2) GTEST_SKIP() << "bad spec";
  sip_.max_calls = 10000;
  sip_.rate_limit_per_s = 0;  // one sipp address at full speed
  start();
  std::printf("RSS idle: %s\n", proc_status("VmRSS").c_str());
  for (int round = 0; round < rounds; ++round) {
    if (round > 0) std::this_thread::sleep_for(40s);
    rusage before{};
    getrusage(RUSAGE_SELF, &before);
    const auto t0 = std::chrono::steady_clock::now();
    auto sipp = sipp_uac({"-sn", "uac", "-r", std::to_string(rate), "-l", "5000"},
                         "load" + std::to_string(round), calls, "300s");
    const int rc = sipp->wait(300s);
    const auto want = static_cast<size_t>(calls) * static_cast<size_t>(round + 1);
    ASSERT_TRUE(handler_.wait_for([&] { return handler_.ended.size() == want; }, 20s));
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rusage after{};
    getrusage(RUSAGE_SELF, &after);
    const auto cpu = [](const rusage& r) {
      return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
             static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
    };
    std::printf("round %d: sipp rc=%d calls=%d rate=%d wall=%.2fs cps=%.1f cpu=%.2fs "
                "(%.0f%% of a core)\n",
                round, rc, calls, rate, secs, calls / secs, cpu(after) - cpu(before),
                100.0 * (cpu(after) - cpu(before)) / secs);
    std::printf("RSS after round %d: %s  peak: %s\n", round, proc_status("VmRSS").c_str(),
                proc_status("VmHWM").c_str());
    EXPECT_EQ(rc, 0) << sipp->output() << errors();
  }
}

}  // namespace
}  // namespace chalkbot::sip
