// judge_offer: the steps an INVITE's SDP offer goes through before we answer it, in the
// endpoint's order, and refusals whose text is safe to quote in a Warning header.
#include <gtest/gtest.h>

#include "sip/sdp_offer.h"

namespace chalkbot::sip {
namespace {

constexpr char kRfcExampleKey[] = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";  // RFC 4568 9.1

std::string sdp(const std::string& media_line, const std::string& extra = "") {
  return "v=0\r\no=probe 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
         media_line + "\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" + extra;
}

const std::vector<Codec>& ours() {
  static const auto codecs = parse_codec_list("PCMU,PCMA");
  return *codecs;
}

TEST(SipSdpOffer, APlainOfferIsTakenWithTheFirstOfOurCodecsItHas) {
  const OfferVerdict offer =
      judge_offer(sdp("m=audio 40000 RTP/AVP 8 0"), SrtpMode::kOff, ours(), SrtpKeySalt{});
  ASSERT_TRUE(offer.taken()) << offer.problem;
  EXPECT_EQ(offer.codec.name, "PCMU");  // our preference, not the offer's order
  EXPECT_EQ(offer.remote.port, 40000);
  EXPECT_FALSE(offer.srtp.use_srtp);
}

TEST(SipSdpOffer, EachRefusalHasItsWarnCode) {
  EXPECT_EQ(judge_offer("", SrtpMode::kOff, ours(), {}).warn_code, 399);  // no late offer
  EXPECT_EQ(judge_offer("v=0\r\nc=IN IP4 127.0.0.1\r\n", SrtpMode::kOff, ours(), {}).warn_code,
            304);  // no m=audio
  const OfferVerdict no_codec =
      judge_offer(sdp("m=audio 40000 RTP/AVP 9"), SrtpMode::kOff, ours(), {});
  EXPECT_EQ(no_codec.warn_code, 305);
  EXPECT_EQ(no_codec.problem, "no common codec (we take PCMU,PCMA)");
  EXPECT_FALSE(no_codec.srtp_refused);
}

TEST(SipSdpOffer, SrtpRequiredRefusesPlainRtpAndTakesSdes) {
  const OfferVerdict plain =
      judge_offer(sdp("m=audio 40000 RTP/AVP 0"), SrtpMode::kRequired, ours(), SrtpKeySalt{});
  EXPECT_EQ(plain.warn_code, 302);
  EXPECT_TRUE(plain.srtp_refused);
  const OfferVerdict secured =
      judge_offer(sdp("m=audio 40000 RTP/SAVP 0",
                      std::string("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:") + kRfcExampleKey + "\r\n"),
                  SrtpMode::kRequired, ours(), SrtpKeySalt{1, 2, 3});
  ASSERT_TRUE(secured.taken()) << secured.problem;
  EXPECT_TRUE(secured.srtp.use_srtp);
  EXPECT_EQ(secured.srtp.local.key_salt, (SrtpKeySalt{1, 2, 3}));
}

// Found by sip_fuzz: a profile is quoted in the refusal, and the refusal is a Warning header's
// quoted text. A quote, a backslash or a control byte from the offer must not reach it.
TEST(SipSdpOffer, AProblemQuotingTheOfferIsPrintableAndCannotEndTheQuotes) {
  const std::string profile = std::string("RTP\"x\\y") + '\0' + "\x01\xff";
  const OfferVerdict offer =
      judge_offer(sdp("m=audio 40000 " + profile + " 0"), SrtpMode::kOff, ours(), {});
  ASSERT_FALSE(offer.taken());
  EXPECT_NE(offer.problem.find("RTP?x?y"), std::string::npos) << offer.problem;
  for (const char c : offer.problem) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f && c != '"' && c != '\\') << static_cast<int>(c);
  }
}

}  // namespace
}  // namespace chalkbot::sip
