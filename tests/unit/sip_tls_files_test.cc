#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "sip/tls_files.h"

namespace chalkbot::sip {
namespace {

TEST(SipTlsFiles, ListenAddressForms) {
  auto v4 = parse_tls_listen("0.0.0.0:5061");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "0.0.0.0");
  EXPECT_EQ(v4->port, 5061);
  auto v6 = parse_tls_listen("[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  for (const char* bad : {"", "5061", ":5061", "host.example:5061", "127.0.0.1:", "127.0.0.1:x",
                          "127.0.0.1:65536", "127.0.0.1:-1", "::1:5061", "[::1]", "[nope]:5061"}) {
    auto parsed = parse_tls_listen(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.error().message.find("sip.tls_listen"), std::string::npos);
  }
}

TEST(SipTlsFiles, MissingOrWrongFilesNameTheKeyAndTheFile) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("chalkbot-tls-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string text = (dir / "text.pem").string();
  std::ofstream(text) << "not a certificate\n";
  SipSettings sip;
  auto error_of = [&] {
    auto status = check_tls_files(sip);
    return status ? std::string() : status.error().message;
  };
  EXPECT_NE(error_of().find("sip.tls_certificate: must name"), std::string::npos);
  sip.tls_certificate = (dir / "missing.pem").string();
  EXPECT_NE(error_of().find("sip.tls_private_key: must name"), std::string::npos);
  sip.tls_private_key = text;
  EXPECT_NE(error_of().find("sip.tls_certificate: cannot read '" + sip.tls_certificate + "'"),
            std::string::npos)
      << error_of();
  sip.tls_certificate = text;
  EXPECT_NE(error_of().find("sip.tls_certificate: '" + text + "' holds no PEM certificate"),
            std::string::npos)
      << error_of();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace chalkbot::sip
