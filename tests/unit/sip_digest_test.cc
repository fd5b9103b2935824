#include <gtest/gtest.h>

#include <map>
#include <string>

#include "sip/digest.h"

namespace chalkbot::sip {
namespace {

// What a client computes from our challenge (RFC 2617 §3.2.2).
std::map<std::string, std::string> client_answer(const std::string& challenge,
                                                 const std::string& user,
                                                 const std::string& password,
                                                 const std::string& realm, bool with_qop = true) {
  const auto at = challenge.find("nonce=\"") + 7;
  const std::string nonce = challenge.substr(at, challenge.find('"', at) - at);
  const std::string uri = "sip:bot@127.0.0.1";
  const std::string ha1 = md5_hex(user + ":" + realm + ":" + password);
  const std::string ha2 = md5_hex("INVITE:" + uri);
  std::map<std::string, std::string> p{
      {"username", user}, {"realm", realm}, {"nonce", nonce}, {"uri", uri}, {"algorithm", "MD5"}};
  if (with_qop) {
    p["qop"] = "auth";
    p["nc"] = "00000001";
    p["cnonce"] = "0a4f113b";
    p["response"] = md5_hex(ha1 + ":" + nonce + ":00000001:0a4f113b:auth:" + ha2);
  } else {
    p["response"] = md5_hex(ha1 + ":" + nonce + ":" + ha2);
  }
  return p;
}

TEST(DigestAuth, Md5MatchesRfc1321) {
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
}

TEST(DigestAuth, RightCredentialsPassWithAndWithoutQop) {
  DigestAuth auth("bot", "s3cret", "chalkbot");
  ASSERT_TRUE(auth.enabled());
  const std::string challenge = auth.challenge(1000);
  EXPECT_NE(challenge.find("realm=\"chalkbot\""), std::string::npos);
  EXPECT_EQ(auth.verify(client_answer(challenge, "bot", "s3cret", "chalkbot"), "INVITE", 1010),
            DigestAuth::Verdict::kOk);
  EXPECT_EQ(
      auth.verify(client_answer(challenge, "bot", "s3cret", "chalkbot", false), "INVITE", 1010),
      DigestAuth::Verdict::kOk);
}

TEST(DigestAuth, WrongPasswordUserRealmOrForgedNonceFail) {
  DigestAuth auth("bot", "s3cret", "chalkbot");
  const std::string challenge = auth.challenge(1000);
  using V = DigestAuth::Verdict;
  EXPECT_EQ(auth.verify(client_answer(challenge, "bot", "guess", "chalkbot"), "INVITE", 1001),
            V::kBad);
  EXPECT_EQ(auth.verify(client_answer(challenge, "eve", "s3cret", "chalkbot"), "INVITE", 1001),
            V::kBad);
  EXPECT_EQ(auth.verify(client_answer(challenge, "bot", "s3cret", "other"), "INVITE", 1001),
            V::kBad);
  // A nonce from another process (another secret), or with its stamp changed.
  DigestAuth other("bot", "s3cret", "chalkbot");
  EXPECT_EQ(auth.verify(client_answer(other.challenge(1000), "bot", "s3cret", "chalkbot"),
                        "INVITE", 1001),
            V::kBad);
  auto forged = client_answer(challenge, "bot", "s3cret", "chalkbot");
  forged["nonce"].replace(0, 4, "9999");
  EXPECT_EQ(auth.verify(forged, "INVITE", 10000), V::kBad);
  EXPECT_EQ(auth.verify({}, "INVITE", 1001), V::kBad);
}

TEST(DigestAuth, OldNonceIsStale) {
  DigestAuth auth("bot", "s3cret", "chalkbot");
  const auto answer = client_answer(auth.challenge(1000), "bot", "s3cret", "chalkbot");
  EXPECT_EQ(auth.verify(answer, "INVITE", 1000 + DigestAuth::kNonceLifetimeS + 1),
            DigestAuth::Verdict::kStale);
  EXPECT_NE(auth.challenge(2000, true).find("stale=TRUE"), std::string::npos);
}

TEST(DigestAuth, EmptyUserIsOff) { EXPECT_FALSE(DigestAuth("", "", "r").enabled()); }

}  // namespace
}  // namespace chalkbot::sip
