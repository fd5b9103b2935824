#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>

#include "sip/invite_check.h"
#include "sip/sdp.h"

namespace chalkbot::sip {
namespace {

constexpr const char* kTransports = "udp,tcp";

// A URI parsed by sofia, as the stack hands them to us.
class Uri {
 public:
  explicit Uri(const char* text) {
    su_home_init(home_);
    url_ = url_make(home_, text);
  }
  ~Uri() { su_home_deinit(home_); }
  Uri(const Uri&) = delete;
  Uri& operator=(const Uri&) = delete;
  const url_t* get() const { return url_; }

 private:
  su_home_t home_[1] = {};
  url_t* url_ = nullptr;
};

Refusal check(const char* uri, bool sips_ok = false) {
  Uri url(uri);
  return check_dialog_uri(url.get(), "Contact", kTransports, sips_ok);
}

TEST(SipDialogUri, UsableUris) {
  for (const char* uri : {"sip:probe@127.0.0.1", "sip:probe@127.0.0.1:5060", "sip:[::1]:5062",
                          "sip:phone.example.com;transport=TCP", "sip:a@b.example;lr",
                          "sip:a@10.0.0.1;maddr=10.0.0.2"}) {
    const Refusal refusal = check(uri);
    EXPECT_FALSE(refusal) << uri << ": " << refusal.status << " " << refusal.reason;
  }
}

TEST(SipDialogUri, SchemesWeCannotSendToAre416) {
  for (const char* uri : {"xyz:probe@example.invalid", "tel:+15550100", "http://example.com/",
                          "sips:probe@127.0.0.1", "*"}) {
    const Refusal refusal = check(uri);
    EXPECT_EQ(refusal.status, 416) << uri;
    EXPECT_EQ(refusal.reason, "Unsupported URI Scheme in Contact") << uri;
  }
  EXPECT_FALSE(check("sips:probe@127.0.0.1", true)) << "sips is fine once we have TLS";
}

TEST(SipDialogUri, BadPortHostTransportMaddrAre400) {
  const struct {
    const char* uri;
    const char* reason;
  } cases[] = {
      {"sip:probe@127.0.0.1:0", "Bad Contact: port out of range"},
      {"sip:probe@127.0.0.1:65536", "Bad Contact: port out of range"},
      {"sip:probe@127.0.0.1:99999999999", "Bad Contact: port out of range"},
      {"sip:probe@127.0.0.1;transport=xyz", "Bad Contact: transport not supported"},
      {"sip:probe@127.0.0.1;transport=tls", "Bad Contact: transport not supported"},
      {"sip:probe@127.0.0.1;maddr=", "Bad Contact: bad maddr"},
      {"sip:probe@127.0.0.1;maddr=a..b", "Bad Contact: bad maddr"},
      {"sip:probe@exa_mple..com", "Bad Contact: no valid host"},
      {"sip:probe@127.0.0.1?Route=%3Cxyz:a%3E", "Bad Contact: URI headers not allowed"},
  };
  for (const auto& c : cases) {
    const Refusal refusal = check(c.uri);
    EXPECT_EQ(refusal.status, 400) << c.uri;
    EXPECT_EQ(refusal.reason, c.reason) << c.uri;
    EXPECT_FALSE(refusal.detail.empty()) << c.uri;
  }
  EXPECT_EQ(check_dialog_uri(nullptr, "Record-Route", kTransports).status, 400);
  Uri tcp("sip:probe@127.0.0.1;transport=tcp");
  EXPECT_EQ(check_dialog_uri(tcp.get(), "Contact", "udp").status, 400)
      << "a transport we do not listen on";
}

TEST(SipDialogUri, DetailQuotesRequestTextSafely) {
  Uri url("xyz:probe@example.invalid");
  const Refusal refusal = check_dialog_uri(url.get(), "Record-Route", kTransports);
  EXPECT_EQ(refusal.reason, "Unsupported URI Scheme in Record-Route");
  EXPECT_EQ(refusal.detail, "scheme 'xyz'");
}

// A whole INVITE parsed by sofia's message parser.
class Invite {
 public:
  explicit Invite(const std::string& text)
      : msg_(msg_make(sip_default_mclass(), 0, text.data(), static_cast<ssize_t>(text.size()))) {}
  ~Invite() { msg_destroy(msg_); }
  Invite(const Invite&) = delete;
  Invite& operator=(const Invite&) = delete;
  const sip_t* sip() const { return sip_object(msg_); }

 private:
  msg_t* msg_;
};

constexpr const char* kSdp =
    "v=0\r\no=p 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\n";

std::string invite(const std::string& extra_headers, const std::string& contact =
                       "Contact: <sip:probe@127.0.0.1:5070>\r\n",
                   const std::string& ruri = "sip:bot@127.0.0.1", const std::string& body = kSdp,
                   const std::string& type = "application/sdp") {
  return "INVITE " + ruri + " SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
         "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:bot@127.0.0.1>\r\n"
         "Call-ID: 1@127.0.0.1\r\nCSeq: 1 INVITE\r\n" + contact + extra_headers +
         "Content-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

Refusal check_text(const std::string& text) {
  Invite message(text);
  EXPECT_NE(message.sip(), nullptr);
  return check_invite(message.sip(), kTransports);
}

TEST(SipInviteCheck, ValidInvitePasses) {
  const Refusal refusal = check_text(invite("Record-Route: <sip:127.0.0.1:5080;lr>\r\n"));
  EXPECT_FALSE(refusal) << refusal.status << " " << refusal.reason;
  EXPECT_FALSE(check_text(invite("Accept: application/sdp, text/plain\r\n")));
  EXPECT_FALSE(check_text(invite("Accept: */*\r\n")));
}

TEST(SipInviteCheck, TheIssueReproducerIs416) {
  EXPECT_EQ(check_text(invite("", "Contact: <xyz:probe@example.invalid>\r\n")).status, 416);
}

TEST(SipInviteCheck, ContactMissingOrTwiceIs400) {
  EXPECT_EQ(check_text(invite("", "")).reason, "Missing Contact");
  EXPECT_EQ(check_text(invite("", "Contact: <sip:a@127.0.0.1>, <sip:b@127.0.0.1>\r\n")).reason,
            "Bad Contact: more than one");
}

// Found by tests/integration/sip_torture.py (seed 7): a Contact folded inside a parameter was
// answered 200, and the BYE built from it carried the CRLF into its request line.
TEST(SipInviteCheck, AContactFoldedInsideTheUriIs400) {
  const Refusal folded =
      check_text(invite("", "Contact: <sip:probe@127.0.0.1:5070;tra\r\n nsport=udp>\r\n"));
  EXPECT_EQ(folded.status, 400);
  EXPECT_EQ(folded.reason, "Bad Contact: whitespace or control character in the URI");
  // Folding between header parameters, outside the URI, is plain linear white space.
  const Refusal between_parameters =
      check_text(invite("", "Contact: <sip:probe@127.0.0.1:5070>\r\n ;expires=60\r\n"));
  EXPECT_FALSE(between_parameters) << between_parameters.reason;
}

TEST(SipInviteCheck, EveryRecordRouteEntryIsChecked) {
  const Refusal refusal = check_text(
      invite("Record-Route: <sip:127.0.0.1:5080;lr>\r\nRecord-Route: <xyz:p.invalid;lr>\r\n"));
  EXPECT_EQ(refusal.status, 416);
  EXPECT_EQ(refusal.reason, "Unsupported URI Scheme in Record-Route");
  EXPECT_EQ(check_text(invite("Record-Route: <sip:127.0.0.1:0;lr>\r\n")).status, 400);
}

TEST(SipInviteCheck, Rfc4475Answers) {
  // 3.1.2.11 escruri: URI headers in the Request-URI.
  EXPECT_EQ(check_text(invite("", "Contact: <sip:probe@127.0.0.1>\r\n",
                              "sip:bot@127.0.0.1?Route=%3Csip:example.com%3E")).status,
            400);
  // 3.3.5 invut: a body of a type we do not know, answered with our Accept.
  const Refusal invut = check_text(invite("", "Contact: <sip:probe@127.0.0.1>\r\n",
                                          "sip:bot@127.0.0.1", "<audio/>\r\n",
                                          "application/unknownformat"));
  EXPECT_EQ(invut.status, 415);
  EXPECT_TRUE(invut.accept_sdp);
  // 3.3.14 sdp01: an Accept that leaves out SDP.
  EXPECT_EQ(check_text(invite("Accept: text/nobodyknowsthis\r\n")).status, 406);
}

TEST(SipSdpUsable, RefusedStreamOrProfileWeCannotRun) {
  RemoteMedia media;
  media.port = 40000;
  EXPECT_EQ(unusable_audio(media).warn_code, 0);
  media.profile = "rtp/avp";
  EXPECT_EQ(unusable_audio(media).warn_code, 0) << "profile names are matched in any case";
  media.profile = "RTP/SAVP";
  EXPECT_EQ(unusable_audio(media).warn_code, 302);
  media.profile = "RTP/AVP";
  media.port = 0;
  EXPECT_EQ(unusable_audio(media).warn_code, 304);
  auto parsed = parse_sdp("v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 UDP/TLS/RTP/SAVPF 0\r\n");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->profile, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(unusable_audio(*parsed).warn_code, 302);
}

}  // namespace
}  // namespace chalkbot::sip
