#include <gtest/gtest.h>

#include "sip/sdes.h"

namespace chalkbot::sip {
namespace {

// RFC 4568 9.1's example key (30 bytes of key and salt).
constexpr char kKey[] = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";

SrtpKeySalt bytes_of(std::uint8_t seed) {
  SrtpKeySalt key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(seed ^ (i * 37));
  return key;
}

RemoteMedia offer(std::string profile, std::vector<std::string> crypto) {
  RemoteMedia media;
  media.ip = "127.0.0.1";
  media.port = 40000;
  media.profile = std::move(profile);
  media.crypto = std::move(crypto);
  return media;
}

TEST(SipSdes, ParsesTheRfcExampleAndFormatsItBack) {
  auto crypto = parse_crypto(std::string("1 AES_CM_128_HMAC_SHA1_80 inline:") + kKey +
                             "|2^20|1:4 FEC_ORDER=FEC_SRTP");
  ASSERT_TRUE(crypto.ok()) << crypto.error().message;
  EXPECT_EQ(crypto->tag, 1u);
  EXPECT_EQ(crypto->suite, SrtpSuite::kAesCm128HmacSha1_80);
  EXPECT_EQ(crypto->lifetime, "2^20");
  EXPECT_EQ(crypto->mki_length, 4u);
  ASSERT_EQ(crypto->session_params.size(), 1u);
  EXPECT_EQ(crypto->session_params[0], "FEC_ORDER=FEC_SRTP");
  EXPECT_EQ(format_crypto(*crypto), std::string("1 AES_CM_128_HMAC_SHA1_80 inline:") + kKey);

  CryptoAttribute ours;
  ours.tag = 7;
  ours.suite = SrtpSuite::kAesCm128HmacSha1_32;
  ours.key_salt = bytes_of(3);
  auto back = parse_crypto(format_crypto(ours));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->tag, 7u);
  EXPECT_EQ(back->suite, SrtpSuite::kAesCm128HmacSha1_32);
  EXPECT_EQ(back->key_salt, ours.key_salt);
  EXPECT_TRUE(back->lifetime.empty());
  EXPECT_EQ(back->mki_length, 0u);
}

TEST(SipSdes, LifetimeAndMkiForms) {
  const std::string head = std::string("1 AES_CM_128_HMAC_SHA1_32 inline:") + kKey;
  EXPECT_EQ(parse_crypto(head + "|1048576")->lifetime, "1048576");
  EXPECT_EQ(parse_crypto(head + "|2^31")->lifetime, "2^31");
  EXPECT_EQ(parse_crypto(head + "|5:128")->mki_length, 128u) << "MKI without a lifetime";
  EXPECT_EQ(parse_crypto(head + "|2^31|1:1")->mki_length, 1u);
  for (const char* bad : {"|", "|2^", "|2^x", "|2^99", "|1:0", "|1:129", "|x:4", "|1:",
                          "|1:4|2^20", "|2^20|2^20", "|1:4|1:4", "|2^20|1:4|7"}) {
    EXPECT_FALSE(parse_crypto(head + bad).ok()) << bad;
  }
}

TEST(SipSdes, BadKeysSuitesAndShapesAreErrors) {
  const std::string suite = "1 AES_CM_128_HMAC_SHA1_80 ";
  // base64 that is not, or that decodes to other than 30 bytes.
  EXPECT_FALSE(parse_crypto(suite + "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVB!").ok());
  EXPECT_FALSE(parse_crypto(suite + "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVB").ok())
      << "39 characters";
  EXPECT_FALSE(parse_crypto(suite + "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtx").ok())
      << "27 bytes";
  EXPECT_FALSE(parse_crypto(suite + "inline:" + kKey + "AAAA").ok()) << "33 bytes";
  EXPECT_FALSE(parse_crypto(suite + "inline:PS1u=CVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR").ok())
      << "padding inside";
  auto message = parse_crypto(suite + "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtx").error();
  EXPECT_EQ(message.message.find("PS1u"), std::string::npos) << "a key never goes into text";

  EXPECT_FALSE(parse_crypto(std::string("1 AES_256_CM_HMAC_SHA1_80 inline:") + kKey).ok());
  EXPECT_FALSE(parse_crypto(std::string("1 F8_128_HMAC_SHA1_80 inline:") + kKey).ok());
  EXPECT_FALSE(parse_crypto(std::string("0 AES_CM_128_HMAC_SHA1_80 inline:") + kKey).ok());
  EXPECT_FALSE(parse_crypto(std::string("1234567890 AES_CM_128_HMAC_SHA1_80 inline:") + kKey).ok());
  EXPECT_FALSE(parse_crypto(std::string("x AES_CM_128_HMAC_SHA1_80 inline:") + kKey).ok());
  EXPECT_FALSE(parse_crypto(std::string("1 AES_CM_128_HMAC_SHA1_80 uri:") + kKey).ok());
  EXPECT_FALSE(parse_crypto("1 AES_CM_128_HMAC_SHA1_80").ok());
  EXPECT_FALSE(parse_crypto("").ok());
  const std::string two_keys = std::string("1 AES_CM_128_HMAC_SHA1_80 inline:") + kKey +
                               "|1:4;inline:" + kKey + "|2:4";
  EXPECT_FALSE(parse_crypto(two_keys).ok()) << "several keys";
}

TEST(SipSdes, Base64RoundTripsEveryLength) {
  for (std::size_t n = 0; n < 40; ++n) {
    std::vector<std::uint8_t> data(n);
    for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<std::uint8_t>(i * 91 + n);
    const std::string text = base64_encode(data.data(), data.size());
    EXPECT_EQ(text.size() % 4, 0u);
    auto back = base64_decode(text);
    ASSERT_TRUE(back.ok()) << text;
    EXPECT_EQ(*back, data);
  }
  EXPECT_EQ(base64_encode(reinterpret_cast<const std::uint8_t*>("foob"), 4), "Zm9vYg==");
  EXPECT_FALSE(base64_decode("Zm9vYg=").ok());
  EXPECT_FALSE(base64_decode("Zm9v Yg==").ok());
  EXPECT_FALSE(base64_decode("Z===").ok());
}

TEST(SipSdes, AnswerUnderEachMode) {
  const std::string good = std::string("5 AES_CM_128_HMAC_SHA1_32 inline:") + kKey;
  const SrtpKeySalt ours = bytes_of(42);

  // required: SAVP with a usable line is taken, tag and suite repeated, our key in the answer.
  auto a = answer_srtp(offer("RTP/SAVP", {"1 UNKNOWN_SUITE inline:" + std::string(kKey), good}),
                       SrtpMode::kRequired, ours);
  ASSERT_TRUE(a.use_srtp);
  EXPECT_EQ(a.warn_code, 0);
  EXPECT_EQ(a.local.tag, 5u);
  EXPECT_EQ(a.local.suite, SrtpSuite::kAesCm128HmacSha1_32);
  EXPECT_EQ(a.local.key_salt, ours);
  EXPECT_EQ(a.remote.key_salt, parse_crypto(good)->key_salt);

  // required: plain RTP, SAVP without keys, or keys we cannot use are refused.
  EXPECT_EQ(answer_srtp(offer("RTP/AVP", {}), SrtpMode::kRequired, ours).warn_code, 302);
  EXPECT_EQ(answer_srtp(offer("RTP/SAVP", {}), SrtpMode::kRequired, ours).warn_code, 302);
  const auto mki = answer_srtp(offer("RTP/SAVP", {good + "|1:4"}), SrtpMode::kRequired, ours);
  EXPECT_EQ(mki.warn_code, 306);
  EXPECT_FALSE(mki.use_srtp);
  EXPECT_EQ(answer_srtp(offer("RTP/SAVP", {good + " UNENCRYPTED_SRTP"}), SrtpMode::kRequired, ours)
                .warn_code,
            306);
  EXPECT_EQ(answer_srtp(offer("RTP/AVP", {"1 AES_CM_128_HMAC_SHA1_80 inline:short"}),
                        SrtpMode::kRequired, ours)
                .warn_code,
            306);
  EXPECT_EQ(answer_srtp(offer("RTP/SAVPF", {good}), SrtpMode::kRequired, ours).warn_code, 302);
  EXPECT_EQ(answer_srtp(offer("UDP/TLS/RTP/SAVP", {good}), SrtpMode::kOptional, ours).warn_code,
            302);

  // optional: plain stays plain, best-effort SRTP on RTP/AVP is taken, bad keys on AVP ignored.
  const auto plain = answer_srtp(offer("RTP/AVP", {}), SrtpMode::kOptional, ours);
  EXPECT_FALSE(plain.use_srtp);
  EXPECT_EQ(plain.warn_code, 0);
  EXPECT_TRUE(answer_srtp(offer("RTP/AVP", {good}), SrtpMode::kOptional, ours).use_srtp);
  const auto ignored = answer_srtp(offer("RTP/AVP", {good + "|1:4"}), SrtpMode::kOptional, ours);
  EXPECT_FALSE(ignored.use_srtp);
  EXPECT_EQ(ignored.warn_code, 0);
  EXPECT_EQ(answer_srtp(offer("RTP/SAVP", {good + "|1:4"}), SrtpMode::kOptional, ours).warn_code,
            306);

  // off: SAVP refused, a=crypto on AVP ignored.
  EXPECT_EQ(answer_srtp(offer("RTP/SAVP", {good}), SrtpMode::kOff, ours).warn_code, 302);
  const auto off = answer_srtp(offer("rtp/avp", {good}), SrtpMode::kOff, ours);
  EXPECT_FALSE(off.use_srtp);
  EXPECT_EQ(off.warn_code, 0);
}

TEST(SipSdes, SdpCarriesCryptoBothWays) {
  auto remote = parse_sdp("v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/SAVP 0\r\n"
                          "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + std::string(kKey) +
                          "\r\nm=video 4002 RTP/SAVP 31\r\na=crypto:9 other\r\n");
  ASSERT_TRUE(remote.ok());
  ASSERT_EQ(remote->crypto.size(), 1u) << "only the audio stream's";
  EXPECT_EQ(remote->crypto[0], std::string("1 AES_CM_128_HMAC_SHA1_80 inline:") + kKey);
  EXPECT_EQ(unusable_audio(*remote).warn_code, 302);
  EXPECT_EQ(unusable_audio(*remote, true).warn_code, 0);

  LocalSdp local;
  local.address = "127.0.0.1";
  local.port = 20000;
  local.codecs = {Codec{"PCMU", 0, 8000}};
  local.profile = "RTP/SAVP";
  local.crypto = "1 AES_CM_128_HMAC_SHA1_80 inline:" + std::string(kKey);
  const std::string sdp = build_sdp(local);
  EXPECT_NE(sdp.find("m=audio 20000 RTP/SAVP 0\r\n"), std::string::npos) << sdp;
  EXPECT_NE(sdp.find("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + std::string(kKey) + "\r\n"),
            std::string::npos);
  local.crypto.clear();
  local.profile = "RTP/AVP";
  EXPECT_EQ(build_sdp(local).find("crypto"), std::string::npos);
}

TEST(SipSdes, OfferersSideTakesOnlyTheAnswerToItsOwnTagAndSuite) {
  CryptoAttribute offered;  // tag 1, AES_CM_128_HMAC_SHA1_80, as chalkbot call offers
  offered.key_salt = bytes_of(7);
  const std::string answer_line = std::string("1 AES_CM_128_HMAC_SHA1_80 inline:") + kKey;
  auto theirs = answered_crypto(
      offer("RTP/SAVP", {std::string("2 AES_CM_128_HMAC_SHA1_80 inline:") + kKey,
                         std::string("1 AES_CM_128_HMAC_SHA1_32 inline:") + kKey, answer_line}),
      offered);
  ASSERT_TRUE(theirs.has_value());
  EXPECT_EQ(theirs->key_salt, parse_crypto(answer_line)->key_salt);
  // No SRTP taken: no a=crypto, another tag or suite, MKI or session parameters.
  EXPECT_FALSE(answered_crypto(offer("RTP/AVP", {}), offered));
  EXPECT_FALSE(answered_crypto(
      offer("RTP/SAVP", {std::string("3 AES_CM_128_HMAC_SHA1_80 inline:") + kKey}), offered));
  EXPECT_FALSE(answered_crypto(offer("RTP/SAVP", {answer_line + "|2^20|1:4"}), offered));
  EXPECT_FALSE(answered_crypto(offer("RTP/SAVP", {answer_line + " KDR=1"}), offered));
}

TEST(SipSdes, RandomKeysDiffer) {
  auto a = random_key_salt();
  auto b = random_key_salt();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(parse_srtp_mode("required").value(), SrtpMode::kRequired);
  EXPECT_FALSE(parse_srtp_mode("yes").ok());
}

}  // namespace
}  // namespace chalkbot::sip
