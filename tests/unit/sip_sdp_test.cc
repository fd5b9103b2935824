#include <gtest/gtest.h>

#include "sip/access.h"
#include "sip/sdp.h"

namespace chalkbot::sip {
namespace {

constexpr const char* kOffer =
    "v=0\r\n"
    "o=user1 53655765 2353687637 IN IP4 192.0.2.10\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 6000 RTP/AVP 8 0 18 101\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:18 G729/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=sendrecv\r\n";

TEST(SipSdp, ParsesOfferWithTelephoneEvent) {
  auto media = parse_sdp(kOffer);
  ASSERT_TRUE(media.ok()) << media.error().message;
  EXPECT_EQ(media->ip, "192.0.2.10");
  EXPECT_EQ(media->port, 6000);
  ASSERT_EQ(media->codecs.size(), 3u);
  EXPECT_EQ(media->codecs[0], (Codec{"PCMA", 8, 8000}));
  EXPECT_EQ(media->codecs[1], (Codec{"PCMU", 0, 8000}));
  EXPECT_EQ(media->codecs[2].name, "G729");
  EXPECT_EQ(media->telephone_events, (std::vector<TelephoneEvent>{{101, 8000}}));
  EXPECT_EQ(media->telephone_event_for(media->codecs[1]), (TelephoneEvent{101, 8000}));
  EXPECT_EQ(media->direction, Direction::kSendRecv);
  EXPECT_FALSE(media->on_hold());
}

TEST(SipSdp, StaticPayloadTypesWithoutRtpmapAndMediaLevelConnection) {
  auto media = parse_sdp(
      "v=0\nc=IN IP4 10.0.0.1\nt=0 0\nm=video 5000 RTP/AVP 31\nc=IN IP4 10.9.9.9\n"
      "m=audio 7000 RTP/AVP 0 96\nc=IN IP4 10.0.0.2\na=rtpmap:96 telephone-event/8000\n"
      "a=sendonly\nm=audio 8000 RTP/AVP 8\nc=IN IP4 10.0.0.3\n");
  ASSERT_TRUE(media.ok()) << media.error().message;
  EXPECT_EQ(media->ip, "10.0.0.2");
  EXPECT_EQ(media->port, 7000);
  ASSERT_EQ(media->codecs.size(), 1u);
  EXPECT_EQ(media->codecs[0].name, "PCMU");
  EXPECT_EQ(media->telephone_event_for(media->codecs[0]).payload_type, 96);
  EXPECT_EQ(media->direction, Direction::kSendOnly);
  EXPECT_TRUE(media->on_hold());
}

TEST(SipSdp, HoldForms) {
  auto old_style = parse_sdp("v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 6000 RTP/AVP 0\r\n");
  ASSERT_TRUE(old_style.ok());
  EXPECT_TRUE(old_style->on_hold());
  auto session_inactive =
      parse_sdp("v=0\r\nc=IN IP4 1.2.3.4\r\na=inactive\r\nm=audio 6000 RTP/AVP 0\r\n");
  ASSERT_TRUE(session_inactive.ok());
  EXPECT_EQ(session_inactive->direction, Direction::kInactive);
  EXPECT_EQ(mirror(Direction::kSendOnly), Direction::kRecvOnly);
  EXPECT_EQ(mirror(Direction::kRecvOnly), Direction::kSendOnly);
  EXPECT_EQ(mirror(Direction::kInactive), Direction::kInactive);
}

TEST(SipSdp, RejectsBrokenBodies) {
  EXPECT_FALSE(parse_sdp("").ok());
  EXPECT_FALSE(parse_sdp("v=0\r\nc=IN IP4 1.2.3.4\r\n").ok());               // no m=audio
  EXPECT_FALSE(parse_sdp("v=0\r\nm=audio 6000 RTP/AVP 0\r\n").ok());         // no c=
  EXPECT_FALSE(parse_sdp("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n").ok());
  EXPECT_FALSE(parse_sdp("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 99999 RTP/AVP 0\r\n").ok());
  EXPECT_FALSE(parse_sdp("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 300\r\n").ok());
  EXPECT_FALSE(parse_sdp("v=0\r\nc=garbage\r\nm=audio 1 RTP/AVP 0\r\n").ok());
  // Addresses must be IP literals of the stated family (we do not resolve names).
  EXPECT_FALSE(parse_sdp("v=0\r\nc=IN IP4 999.1.1.1\r\nm=audio 1 RTP/AVP 0\r\n").ok());
  EXPECT_FALSE(parse_sdp("v=0\r\nc=IN IP4 pbx.example\r\nm=audio 1 RTP/AVP 0\r\n").ok());
  EXPECT_FALSE(parse_sdp("v=0\r\nc=IN IP6 10.0.0.1\r\nm=audio 1 RTP/AVP 0\r\n").ok());
  EXPECT_TRUE(parse_sdp("v=0\r\nc=IN IP6 ::1\r\nm=audio 1 RTP/AVP 0\r\n").ok());
  // A stream we ignore may say what it likes.
  EXPECT_TRUE(parse_sdp("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 1 RTP/AVP 0\r\n"
                        "m=video 2 RTP/AVP 31\r\nc=IN IP4 cam.example\r\n").ok());
}

TEST(SipSdp, ChoosesByOurPreference) {
  auto media = parse_sdp(kOffer);
  ASSERT_TRUE(media.ok());
  auto prefs = parse_codec_list("PCMU,PCMA");
  ASSERT_TRUE(prefs.ok());
  auto chosen = choose_codec(*media, *prefs);
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen->name, "PCMU");
  auto only_pcmu = parse_codec_list("PCMU");
  auto pcma_offer = parse_sdp("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 6000 RTP/AVP 8\r\n");
  ASSERT_TRUE(pcma_offer.ok());
  EXPECT_FALSE(choose_codec(*pcma_offer, *only_pcmu).ok());
  EXPECT_FALSE(parse_codec_list("PCMU,G729").ok());
}

// What baresip and most softphones offer for a wideband call: opus, G.722 and G.711.
constexpr const char* kWidebandOffer =
    "v=0\r\n"
    "o=- 1 2 IN IP4 192.0.2.20\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.20\r\n"
    "t=0 0\r\n"
    "m=audio 7000 RTP/AVP 0 9 96 101\r\n"
    "a=rtpmap:96 opus/48000/2\r\n"
    "a=fmtp:96 stereo=1;sprop-stereo=1;useinbandfec=1\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=sendrecv\r\n";

TEST(SipSdp, WidebandPreferredWithTheOffersOwnPayloadType) {
  auto media = parse_sdp(kWidebandOffer);
  ASSERT_TRUE(media.ok()) << media.error().message;
  ASSERT_EQ(media->codecs.size(), 3u);
  EXPECT_EQ(media->codecs[0], (Codec{"PCMU", 0, 8000}));
  EXPECT_EQ(media->codecs[1], (Codec{"G722", 9, 8000}));
  EXPECT_EQ(media->codecs[2], (Codec{"OPUS", 96, 48000, 2}));
  auto prefs = parse_codec_list("opus,G722,PCMU,PCMA");
  ASSERT_TRUE(prefs.ok()) << prefs.error().message;
  auto chosen = choose_codec(*media, *prefs);
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(*chosen, (Codec{"OPUS", 96, 48000, 2}));  // the offer's pt, not our 111
  auto g722_first = parse_codec_list("g722,opus");
  ASSERT_TRUE(g722_first.ok());
  EXPECT_EQ(choose_codec(*media, *g722_first)->name, "G722");
  // A G.711-only offer still gets G.711.
  auto narrow = parse_sdp(kOffer);
  ASSERT_TRUE(narrow.ok());
  EXPECT_EQ(choose_codec(*narrow, *prefs)->name, "PCMU");
  // G.722 by its static type alone, without a=rtpmap.
  auto bare = parse_sdp("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 6000 RTP/AVP 9\r\n");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(choose_codec(*bare, *prefs)->name, "G722");
}

// An event's timestamp and duration count in its own clock, which must be the stream's: beside
// opus the /48000 type when offered (WebRTC gateways offer both), else the /8000 one many phones
// offer whatever the codec; none at all when only a clock we cannot pair was offered.
TEST(SipSdp, TelephoneEventOnTheChosenCodecsClock) {
  auto both = parse_sdp(
      "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 6000 RTP/AVP 111 0 110 126\r\n"
      "a=rtpmap:111 opus/48000/2\r\na=rtpmap:110 telephone-event/48000\r\n"
      "a=rtpmap:126 telephone-event/8000\r\n");
  ASSERT_TRUE(both.ok()) << both.error().message;
  const Codec opus{"OPUS", 111, 48000, 2};
  const Codec pcmu{"PCMU", 0, 8000};
  EXPECT_EQ(both->telephone_event_for(opus), (TelephoneEvent{110, 48000}));
  EXPECT_EQ(both->telephone_event_for(pcmu), (TelephoneEvent{126, 8000}));
  auto narrow_only = parse_sdp(
      "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 6000 RTP/AVP 111 101\r\n"
      "a=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n");
  ASSERT_TRUE(narrow_only.ok());
  EXPECT_EQ(narrow_only->telephone_event_for(opus), (TelephoneEvent{101, 8000}));
  auto wide_only = parse_sdp(
      "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 6000 RTP/AVP 0 110\r\n"
      "a=rtpmap:110 telephone-event/48000\r\n");
  ASSERT_TRUE(wide_only.ok());
  EXPECT_EQ(wide_only->telephone_event_for(pcmu).payload_type, -1);
  EXPECT_EQ(wide_only->telephone_event_for(opus), (TelephoneEvent{110, 48000}));

  LocalSdp answer;
  answer.address = "203.0.113.5";
  answer.port = 20000;
  answer.codecs = {opus};
  answer.telephone_event_pt = 110;
  answer.telephone_event_rate = 48000;
  const std::string sdp = build_sdp(answer);
  EXPECT_NE(sdp.find("m=audio 20000 RTP/AVP 111 110\r\n"), std::string::npos) << sdp;
  EXPECT_NE(sdp.find("a=rtpmap:110 telephone-event/48000\r\n"), std::string::npos) << sdp;
  auto back = parse_sdp(sdp);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->telephone_events, (std::vector<TelephoneEvent>{{110, 48000}}));
}

TEST(SipSdp, OpusWithBrokenFmtpOrRtpmapIsTolerated) {
  // An fmtp we cannot read is ignored: we decode whatever Opus comes.
  auto odd_fmtp = parse_sdp(
      "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 6000 RTP/AVP 120 0\r\n"
      "a=rtpmap:120 OPUS/48000/2\r\na=fmtp:120 ;;useinbandfec==;=1;maxplaybackrate=x\r\n"
      "a=fmtp:120\r\na=fmtp:\r\n");
  ASSERT_TRUE(odd_fmtp.ok()) << odd_fmtp.error().message;
  auto prefs = parse_codec_list("opus,PCMU");
  ASSERT_TRUE(prefs.ok());
  EXPECT_EQ(choose_codec(*odd_fmtp, *prefs)->payload_type, 120);
  // A bad channel count drops that rtpmap; the stream is still readable (and falls to PCMU).
  auto bad_channels = parse_sdp(
      "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 6000 RTP/AVP 120 0\r\n"
      "a=rtpmap:120 opus/48000/zero\r\n");
  ASSERT_TRUE(bad_channels.ok());
  EXPECT_EQ(choose_codec(*bad_channels, *prefs)->name, "PCMU");
  // opus at a clock other than 48000 is not RFC 7587 opus: not chosen.
  auto wrong_clock = parse_sdp(
      "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 6000 RTP/AVP 120\r\na=rtpmap:120 opus/16000\r\n");
  ASSERT_TRUE(wrong_clock.ok());
  EXPECT_FALSE(choose_codec(*wrong_clock, *prefs).ok());
}

TEST(SipSdp, BuildsAWidebandOfferThatParsesBack) {
  auto codecs = parse_codec_list("opus,G722,PCMU,PCMA");
  ASSERT_TRUE(codecs.ok());
  LocalSdp local;
  local.address = "203.0.113.5";
  local.port = 20000;
  local.codecs = *codecs;
  local.telephone_event_pt = 101;
  const std::string sdp = build_sdp(local);
  EXPECT_NE(sdp.find("m=audio 20000 RTP/AVP 111 9 0 8 101\r\n"), std::string::npos) << sdp;
  EXPECT_NE(sdp.find("a=rtpmap:111 opus/48000/2\r\n"), std::string::npos) << sdp;
  EXPECT_NE(sdp.find("a=fmtp:111 useinbandfec=1;maxplaybackrate=16000;sprop-maxcapturerate=16000\r\n"),
            std::string::npos) << sdp;
  EXPECT_NE(sdp.find("a=rtpmap:9 G722/8000\r\n"), std::string::npos) << sdp;
  auto back = parse_sdp(sdp);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->codecs, local.codecs);
}

TEST(SipSdp, BuildsAnswerThatParsesBack) {
  LocalSdp local;
  local.address = "203.0.113.5";
  local.port = 20000;
  local.codecs = {{"PCMA", 8, 8000}};
  local.telephone_event_pt = 101;
  local.direction = Direction::kRecvOnly;
  local.session_id = 42;
  local.version = 3;
  const std::string sdp = build_sdp(local);
  EXPECT_NE(sdp.find("o=- 42 3 IN IP4 203.0.113.5\r\n"), std::string::npos) << sdp;
  EXPECT_NE(sdp.find("c=IN IP4 203.0.113.5\r\n"), std::string::npos);
  EXPECT_NE(sdp.find("m=audio 20000 RTP/AVP 8 101\r\n"), std::string::npos);
  EXPECT_NE(sdp.find("a=recvonly\r\n"), std::string::npos);
  auto back = parse_sdp(sdp);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->ip, "203.0.113.5");
  EXPECT_EQ(back->codecs, local.codecs);
  EXPECT_EQ(back->telephone_events, (std::vector<TelephoneEvent>{{101, 8000}}));
  EXPECT_EQ(back->direction, Direction::kRecvOnly);

  local.address = "2001:db8::5";
  local.telephone_event_pt = -1;
  const std::string v6 = build_sdp(local);
  EXPECT_NE(v6.find("c=IN IP6 2001:db8::5\r\n"), std::string::npos);
  EXPECT_EQ(v6.find("telephone-event"), std::string::npos);
}

TEST(SipAccess, NetworksV4AndV6) {
  auto nets = NetworkList::parse("127.0.0.0/8, 10.1.0.0/16,::1/128,2001:db8::/32,192.0.2.7");
  ASSERT_TRUE(nets.ok()) << nets.error().message;
  EXPECT_TRUE(nets->contains("127.0.0.1"));
  EXPECT_TRUE(nets->contains("10.1.255.3"));
  EXPECT_FALSE(nets->contains("10.2.0.1"));
  EXPECT_TRUE(nets->contains("::1"));
  EXPECT_TRUE(nets->contains("2001:db8:1::9"));
  EXPECT_FALSE(nets->contains("2001:db9::1"));
  EXPECT_TRUE(nets->contains("192.0.2.7"));
  EXPECT_FALSE(nets->contains("192.0.2.8"));
  EXPECT_TRUE(nets->contains("::ffff:127.0.0.1"));  // v4-mapped
  EXPECT_FALSE(nets->contains("not an address"));
  EXPECT_FALSE(nets->contains(""));

  auto odd = NetworkList::parse("172.16.0.0/12");
  ASSERT_TRUE(odd.ok());
  EXPECT_TRUE(odd->contains("172.31.1.1"));
  EXPECT_FALSE(odd->contains("172.32.0.1"));
  EXPECT_FALSE(NetworkList::parse("10.0.0.0/33").ok());
  EXPECT_FALSE(NetworkList::parse("10.0.0/8").ok());
  EXPECT_FALSE(NetworkList::parse("::1/129").ok());
  auto empty = NetworkList::parse("");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->contains("127.0.0.1"));
}

TEST(SipAccess, CallerFilter) {
  EXPECT_TRUE(CallerFilter("").admits("sip:anyone@example.com"));
  CallerFilter filter("alice@, @trusted.example");
  EXPECT_TRUE(filter.admits("sip:alice@example.com"));
  EXPECT_TRUE(filter.admits("sip:bob@trusted.example"));
  EXPECT_FALSE(filter.admits("sip:bob@example.com"));
}

}  // namespace
}  // namespace chalkbot::sip
