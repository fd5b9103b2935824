// SipEndpoint registering to a trunk over TLS (sips:), against tls_registrar.py, with test
// certificates made by openssl for each run: a registrar whose certificate chains to
// sip.tls_ca_file gets the REGISTER; one with a self-signed certificate never sees it.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "sip/sip_endpoint.h"
#include "support/subprocess.h"
#include "support/test_support.h"

namespace chalkbot::sip {
namespace {

using namespace std::chrono_literals;
using chalkbot::testing::Subprocess;

class NoCalls : public CallHandler {
 public:
  Admission on_invite(const IncomingCall&) override { return Admission::reject(480); }
  void on_established(CallId) override {}
  void on_media_changed(CallId, const RemoteMedia&) override {}
  void on_ended(CallId, const CallEnd&) override {}
};

class SipTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = chalkbot::testing::make_temp_dir();
    // A CA, a server certificate for 127.0.0.1 signed by it, and a self-signed one.
    run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ca.key"),
         "-out", path("ca.pem"), "-days", "2", "-subj", "/CN=Chalkbot test CA"});
    run({"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("server.key"), "-out",
         path("server.csr"), "-subj", "/CN=127.0.0.1"});
    std::ofstream(path("server.ext")) << "subjectAltName=IP:127.0.0.1\n";
    run({"openssl", "x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey",
         path("ca.key"), "-CAcreateserial", "-out", path("server.pem"), "-days", "2", "-extfile",
         path("server.ext")});
    run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("self.key"),
         "-out", path("self.pem"), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
         "subjectAltName=IP:127.0.0.1"});
    const Settings settings = chalkbot::testing::default_settings();
    sip_ = settings.sip;
    media_ = settings.media;
    sip_.port = 0;
    sip_.tls_listen = "127.0.0.1:0";
    sip_.tls_certificate = path("server.pem");
    sip_.tls_private_key = path("server.key");
    sip_.tls_ca_file = path("ca.pem");
    sip_.timer_t1_ms = 100;  // a REGISTER that cannot be sent fails within 64*T1
    sip_.timer_t2_ms = 400;
  }
  void TearDown() override {
    endpoint_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  void run(std::vector<std::string> argv) {
    Subprocess openssl(std::move(argv), dir_, "openssl");
    ASSERT_EQ(openssl.wait(30s), 0) << openssl.output();
  }
  // The registrar presenting `cert`; sets sip.register_uri to it.
  std::unique_ptr<Subprocess> registrar(const std::string& cert) {
    const int port = chalkbot::testing::free_port();
    auto r = std::make_unique<Subprocess>(
        std::vector<std::string>{"python3", chalkbot::testing::tests_dir() +
                                                "/component/tls_registrar.py",
                                 "--port", std::to_string(port), "--cert", path(cert + ".pem"),
                                 "--key", path(cert + ".key")},
        dir_, "registrar-" + cert);
    for (int i = 0; i < 100 && r->output().find("LISTENING") == std::string::npos; ++i) {
      std::this_thread::sleep_for(50ms);
    }
    EXPECT_NE(r->output().find("LISTENING"), std::string::npos) << r->output();
    sip_.register_uri = "sips:127.0.0.1:" + std::to_string(port);
    return r;
  }
  void start() {
    endpoint_ = std::make_unique<SipEndpoint>(sip_, media_, handler_);
    auto status = endpoint_->start();
    ASSERT_TRUE(status.ok()) << status.error().message;
    EXPECT_GT(endpoint_->tls_port(), 0);
  }
  bool registered_within(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (endpoint_->registration().registered) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  std::string dir_;
  SipSettings sip_;
  MediaSettings media_;
  NoCalls handler_;
  std::unique_ptr<SipEndpoint> endpoint_;
};

TEST_F(SipTlsTest, RegistersOverTlsToARegistrarTheCaVouchesFor) {
  auto r = registrar("server");
  start();
  ASSERT_TRUE(registered_within(10s)) << endpoint_->registration().last_status << "\n"
                                      << r->output();
  EXPECT_EQ(endpoint_->registration().last_status, 200);
  EXPECT_NE(r->output().find("REGISTER sips:127.0.0.1:"), std::string::npos) << r->output();
}

TEST_F(SipTlsTest, NoRegisterReachesARegistrarWithAnUnknownCertificate) {
  auto r = registrar("self");
  start();
  EXPECT_FALSE(registered_within(4s));
  const auto deadline = std::chrono::steady_clock::now() + 10s;  // 64*T1 = 6.4 s
  while (endpoint_->registration().last_status == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  const RegistrationState state = endpoint_->registration();
  EXPECT_FALSE(state.registered);
  EXPECT_GE(state.last_status, 400) << state.last_status << " " << state.last_phrase;
  // (sofia drops the connection and tells no more than 408 Request Timeout after 64*T1.)
  EXPECT_EQ(r->output().find("REGISTER"), std::string::npos)
      << "the REGISTER went to a registrar whose certificate no trusted CA signed\n"
      << r->output();
}

}  // namespace
}  // namespace chalkbot::sip
