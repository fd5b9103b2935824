// `chalkbot call`'s library (caller/caller.h) and the RFC 4733 sender it needs (MediaSession::
// send_dtmf). The caller runs against sipp as the far end: with `-rtp_echo` (the "bot" is our own
// audio echoed back) and with scenario files that play a known far-end track from a .ul file laid
// out by the test (greeting, silences, answers at known offsets from the ACK).
//
// Timing asserts allow ~150 ms: the far end's track starts when sipp sees the ACK, our recording
// starts when the 200 OK arrives, the receive jitter buffer adds 40-200 ms, and sipp's rtp_stream
// pacing wobbles when the machine is loaded.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "caller/caller.h"
#include "component/media_test_util.h"
#include "core/config.h"
#include "media/g711.h"
#include "media/media_engine.h"
#include "media/wav.h"
#include "support/subprocess.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

using namespace std::chrono_literals;
using chalkbot::testing::Subprocess;

// --- the voiced timeline, no network ------------------------------------------------------------

TEST(CallerTimeline, SpeechEndNeedsTheWholeGap) {
  using T = SteadyClock::time_point;
  const T t0 = SteadyClock::now();
  auto at = [&](int ms) { return t0 + Millis(ms); };
  SpeechTimeline heard;
  EXPECT_FALSE(heard.speech_end(t0, 200ms, at(5000)).has_value());
  for (int ms = 20; ms <= 1000; ms += 20) heard.add_voiced(at(ms));  // speech 0-1000
  for (int ms = 1120; ms <= 1500; ms += 20) heard.add_voiced(at(ms));  // 100 ms pause, speech
  EXPECT_EQ(heard.first_voiced_after(at(1000)), at(1120));
  EXPECT_EQ(heard.last_voiced_at_or_before(at(1100)), at(1000));
  // The 100 ms pause is no end for a 200 ms gap; the end is the last frame once 200 ms passed.
  EXPECT_FALSE(heard.speech_end(at(0), 200ms, at(1600)).has_value());
  EXPECT_EQ(heard.speech_end(at(0), 200ms, at(1700)), at(1500));
  // A 100 ms gap is enough to end the first stretch.
  EXPECT_EQ(heard.speech_end(at(0), 100ms, at(1600)), at(1000));
  // Nothing voiced since `from`: no speech to end.
  EXPECT_FALSE(heard.speech_end(at(1600), 200ms, at(3000)).has_value());
}

TEST(CallerTimeline, VoicedSpanOfAQuestion) {
  std::vector<Sample> pcm(8000, 0);                       // 1 s of silence
  const auto tone = testing::tone(440, 0.5);              // 0.5 s tone from 0.2 s
  std::copy(tone.begin(), tone.end(), pcm.begin() + 1600);
  const auto span = voiced_span(pcm, 300);
  ASSERT_TRUE(span.has_value());
  EXPECT_EQ(span->first_frame, 10u);
  EXPECT_EQ(span->last_frame, 34u);
  EXPECT_FALSE(voiced_span(std::vector<Sample>(800, 10), 300).has_value());
}

// --- RFC 4733 sending ---------------------------------------------------------------------------

TEST(MediaSessionDtmfSend, PacketsFollowRfc4733) {
  auto e = testing::media_engine(15000, 15099);
  ASSERT_TRUE(e);
  auto s = e->open_session("127.0.0.1").value();
  testing::RawUdp far;
  EXPECT_FALSE(s->send_dtmf('5').ok());  // not started
  ASSERT_TRUE(s->start("127.0.0.1", far.port(), 0, 101).ok());
  EXPECT_FALSE(s->send_dtmf('x').ok());
  EXPECT_FALSE(s->send_dtmf('5', 10).ok());
  ASSERT_TRUE(far.recv_rtp(500ms).has_value());  // the stream runs (silence)
  std::this_thread::sleep_for(70ms);             // a few silent packets precede the presses
  ASSERT_TRUE(s->send_dtmf('5', 100).ok());
  ASSERT_TRUE(s->send_dtmf('#', 60).ok());
  const auto tone = testing::tone(440, 0.1);
  ASSERT_EQ(s->enqueue_audio(tone), tone.size());  // waits behind the presses
  EXPECT_TRUE(s->dtmf_sending());

  struct Pkt {
    RtpHeader h;
    std::vector<std::uint8_t> payload;
  };
  std::vector<Pkt> pkts;
  const auto until = std::chrono::steady_clock::now() + 800ms;
  while (std::chrono::steady_clock::now() < until) {
    auto d = far.recv_rtp(100ms);
    if (!d) continue;
    RtpPacketView v;
    ASSERT_EQ(parse_rtp(d->bytes, v), RtpError::kOk);
    pkts.push_back({v.header, {v.payload.begin(), v.payload.end()}});
  }
  EXPECT_FALSE(s->dtmf_sending());
  ASSERT_GT(pkts.size(), 20u);
  for (std::size_t i = 1; i < pkts.size(); ++i) {
    EXPECT_EQ(pkts[i].h.ssrc, pkts[0].h.ssrc);
    EXPECT_EQ(static_cast<std::uint16_t>(pkts[i].h.sequence - pkts[i - 1].h.sequence), 1) << i;
  }
  const auto first_event = std::find_if(pkts.begin(), pkts.end(),
                                        [](const Pkt& p) { return p.h.payload_type == 101; });
  ASSERT_NE(first_event, pkts.end());
  ASSERT_NE(first_event, pkts.begin());
  const std::size_t at = static_cast<std::size_t>(first_event - pkts.begin());
  ASSERT_GE(pkts.size(), at + 17);
  // The press starts on the audio clock: one tick after the packet before it.
  EXPECT_EQ(pkts[at].h.timestamp, pkts[at - 1].h.timestamp + 160);

  // '5' for 100 ms: 5 packets of growing duration, the last (end) three times; one timestamp.
  const std::vector<int> durations5 = {160, 320, 480, 640, 800, 800, 800};
  for (std::size_t k = 0; k < durations5.size(); ++k) {
    const Pkt& p = pkts[at + k];
    ASSERT_EQ(p.h.payload_type, 101) << k;
    ASSERT_EQ(p.payload.size(), 4u);
    EXPECT_EQ(p.h.marker, k == 0) << k;
    EXPECT_EQ(p.h.timestamp, pkts[at].h.timestamp) << k;
    EXPECT_EQ(p.payload[0], 5);
    EXPECT_EQ((p.payload[1] & 0x80) != 0, k >= 4) << k;
    EXPECT_EQ(p.payload[1] & 0x3f, 10);
    EXPECT_EQ((p.payload[2] << 8) | p.payload[3], durations5[k]) << k;
  }
  // 40 ms of silence (the audio queued waits for '#'), then '#' for 60 ms.
  for (const std::size_t k : {at + 7, at + 8}) {
    EXPECT_EQ(pkts[k].h.payload_type, 0);
    EXPECT_LT(testing::rms(g711_decode(G711Law::kMuLaw, pkts[k].payload)), 10);
  }
  const std::vector<int> durations_hash = {160, 320, 480, 480, 480};
  for (std::size_t k = 0; k < durations_hash.size(); ++k) {
    const Pkt& p = pkts[at + 9 + k];
    ASSERT_EQ(p.h.payload_type, 101) << k;
    EXPECT_EQ(p.h.marker, k == 0) << k;
    EXPECT_EQ(p.h.timestamp, pkts[at].h.timestamp + 9 * 160) << k;
    EXPECT_EQ(p.payload[0], 11);
    EXPECT_EQ((p.payload[1] & 0x80) != 0, k >= 2) << k;
    EXPECT_EQ((p.payload[2] << 8) | p.payload[3], durations_hash[k]) << k;
  }
  // The audio queued behind the presses follows at once (no press left to wait for), as a new
  // talk spurt.
  const Pkt& audio = pkts[at + 14];
  EXPECT_EQ(audio.h.payload_type, 0);
  EXPECT_TRUE(audio.h.marker);
  EXPECT_GT(testing::rms(g711_decode(G711Law::kMuLaw, audio.payload)), 1000);
}

TEST(MediaSessionDtmfSend, DigitsReachTheReceivingSession) {
  auto e = testing::media_engine(15100, 15199);
  ASSERT_TRUE(e);
  auto a = e->open_session("127.0.0.1").value();
  auto b = e->open_session("127.0.0.1").value();
  ASSERT_TRUE(a->start("127.0.0.1", b->local_port(), 0, 101).ok());
  ASSERT_TRUE(b->start("127.0.0.1", a->local_port(), 0, 101).ok());
  for (const char key : std::string("1#9D*0")) ASSERT_TRUE(a->send_dtmf(key, 80).ok());
  std::string digits;
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (digits.size() < 6 && std::chrono::steady_clock::now() < until) {
    b->wait_for_input(50ms);
    Frame f;
    while (b->pop_frame(f)) {
    }
    while (auto d = b->pop_dtmf()) digits += *d;
  }
  EXPECT_EQ(digits, "1#9D*0");

  // No telephone-event negotiated: nothing to send on.
  auto c = e->open_session("127.0.0.1").value();
  ASSERT_TRUE(c->start("127.0.0.1", b->local_port(), 0, -1).ok());
  EXPECT_FALSE(c->send_dtmf('1').ok());
}

// --- the caller against sipp ---------------------------------------------------------------------

// Voiced stretches of an 8 kHz recording, in ms, with their dominant frequency. A far end that
// stalls under load (sipp on a busy machine) leaves a hole of a few frames in one tone: holes up
// to kBridgedFrames are bridged (the tracks' own pauses are over a second), and the frequency is
// counted over the voiced frames only.
struct Run {
  int start_ms = 0;
  int end_ms = 0;
  double hz = 0;
};

std::vector<Run> voiced_runs(const std::vector<Sample>& pcm) {
  constexpr std::size_t kBridgedFrames = 5;
  const std::size_t frames = pcm.size() / kFrameSamples;
  const auto frame = [&](std::size_t f) {
    return Samples(pcm).subspan(f * kFrameSamples, kFrameSamples);
  };
  std::vector<Run> runs;
  std::size_t first = 0, last = 0, voiced_frames = 0;
  int crossings = 0;
  bool open = false;
  const auto close = [&] {
    const double voiced_s = static_cast<double>(voiced_frames * kFrameMs) / 1000.0;
    runs.push_back({static_cast<int>(first) * kFrameMs, static_cast<int>(last + 1) * kFrameMs,
                    crossings / 2.0 / voiced_s});
    open = false;
  };
  for (std::size_t f = 0; f < frames; ++f) {
    if (block_rms(frame(f)) <= 300) continue;
    if (open && f - last > kBridgedFrames + 1) close();
    if (!open) {
      open = true;
      first = f;
      voiced_frames = 0;
      crossings = 0;
    }
    // A crossing at the frame's start counts when the frame before it is voiced too.
    const std::size_t from = f * kFrameSamples + (f > first && last == f - 1 ? 0 : 1);
    last = f;
    ++voiced_frames;
    for (std::size_t i = from; i < (f + 1) * kFrameSamples; ++i) {
      if ((pcm[i - 1] < 0) != (pcm[i] < 0)) ++crossings;
    }
  }
  if (open) close();
  return runs;
}

std::string describe(const std::vector<Run>& runs) {
  std::string s;
  for (const Run& r : runs) {
    s += "[" + std::to_string(r.start_ms) + "-" + std::to_string(r.end_ms) + " " +
         std::to_string(static_cast<int>(r.hz)) + " Hz] ";
  }
  return s;
}

class CallerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = chalkbot::testing::make_temp_dir();
    ConfigSources sources;
    sources.env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    auto settings = load_settings(sources);
    ASSERT_TRUE(settings.ok()) << settings.error().message;
    sip_ = settings->sip;
    sip_.user_agent = "Chalkbot-caller-test";
    media_ = testing::media_settings(15200, 15299);
    options_.quiet_ms = 400;
    options_.record_path = dir_ + "/heard.wav";
  }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  // A question: `lead_s` of silence, then `tone_s` of a 440 Hz tone, at 16 kHz (the caller
  // resamples).
  std::string question(const std::string& name, double lead_s, double tone_s) {
    Audio audio{16000, std::vector<Sample>(static_cast<std::size_t>(16000 * lead_s), 0)};
    for (std::size_t i = 0; i < static_cast<std::size_t>(16000 * tone_s); ++i) {
      audio.samples.push_back(static_cast<Sample>(
          8000 * std::sin(2 * std::numbers::pi * 440 * static_cast<double>(i) / 16000.0)));
    }
    const std::string path = dir_ + "/" + name;
    EXPECT_TRUE(write_wav(path, audio).ok());
    return path;
  }

  // The far end's track as headerless u-law for sipp's rtp_stream: (hz, seconds) pieces, hz 0 is
  // silence.
  void bot_track(const std::vector<std::pair<double, double>>& pieces) {
    std::vector<Sample> pcm;
    for (const auto& [hz, seconds] : pieces) {
      if (hz == 0) {
        pcm.resize(pcm.size() + static_cast<std::size_t>(8000 * seconds), 0);
      } else {
        const auto t = testing::tone(hz, seconds);
        pcm.insert(pcm.end(), t.begin(), t.end());
      }
    }
    const auto ulaw = g711_encode(G711Law::kMuLaw, pcm);
    std::ofstream out(dir_ + "/bot.ul", std::ios::binary);
    out.write(reinterpret_cast<const char*>(ulaw.data()),
              static_cast<std::streamsize>(ulaw.size()));
  }

  // sipp as the far end on a free port; `args` e.g. {"-sn", "uas", "-rtp_echo"}.
  static bool udp_port_taken(int port) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool taken =
        ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 && errno == EADDRINUSE;
    ::close(fd);
    return taken;
  }
  std::unique_ptr<Subprocess> far_end(std::vector<std::string> args, const std::string& name) {
    port_ = chalkbot::testing::free_port();
    std::vector<std::string> argv = {"sipp", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin",
                                     "-timeout", "30s", "-timeout_error", "-trace_err",
                                     "-trace_msg", "-m", "1", "-p", std::to_string(port_),
                                     "-mp", std::to_string(chalkbot::testing::free_port())};
    argv.insert(argv.end(), args.begin(), args.end());
    auto p = std::make_unique<Subprocess>(argv, dir_, name);
    // Call only once sipp holds its port (a loaded machine took longer than a fixed wait): the
    // port is taken when binding it ourselves fails.
    for (int i = 0; i < 100 && !udp_port_taken(port_); ++i) std::this_thread::sleep_for(50ms);
    return p;
  }
  std::string scenario(const std::string& name) {
    return chalkbot::testing::tests_dir() + "/sipp/" + name;
  }

  CallerReport call() {
    options_.target = "sip:bot@127.0.0.1:" + std::to_string(port_);
    Caller caller(options_, sip_, media_);
    auto report = caller.run();
    EXPECT_TRUE(report.ok()) << report.error().message;
    if (!report.ok()) return {};
    json_ = to_json(*report).dump(2);
    return std::move(report).value();
  }
  std::vector<Sample> recording() {
    auto audio = read_wav(options_.record_path);
    EXPECT_TRUE(audio.ok());
    return audio.ok() ? audio->samples : std::vector<Sample>{};
  }
  std::string logs() { return chalkbot::testing::read_files_matching(dir_, "_messages.log"); }

  std::string dir_;
  SipSettings sip_;
  MediaSettings media_;
  CallerOptions options_;
  int port_ = 0;
  std::string json_;  // the last report, for failure messages
};

// The echo's "answer" is our own question coming back, so it proves where the recording puts what
// is heard and that our RFC 4733 presses survive a real peer; it says nothing about a bot's
// latency (the "answer" is the echo's tail: as long as the loop delay, right after the question).
TEST_F(CallerTest, EchoIsRecordedWhereItWasSentAndKeysComeBack) {
  // The scripted UAS for its SDP with telephone-event (the built-in uas offers none); its track
  // is a moment of silence, then sipp only echoes.
  bot_track({{0, 0.02}});
  auto sipp = far_end({"-sf", scenario("caller_uas_play.xml"), "-rtp_echo"}, "echo");
  options_.questions = {question("q.wav", 0.3, 1.0)};
  options_.greeting_timeout_ms = 0;  // an echo does not greet
  options_.dtmf_after_greeting = "4#";
  const CallerReport r = call();
  ASSERT_TRUE(r.answered) << json_;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.codec, "PCMU");
  EXPECT_EQ(r.dtmf_sent, "4#");
  EXPECT_EQ(r.dtmf_heard, "4#") << json_;
  ASSERT_EQ(r.turns.size(), 1u) << json_;
  const CallerTurn& t = r.turns[0];
  EXPECT_TRUE(t.answered) << json_;
  EXPECT_FALSE(t.playback_underrun);
  EXPECT_LE(*t.response_latency_ms, 250) << json_;
  EXPECT_LE(*t.answer_ms, 300) << json_;
  EXPECT_EQ(r.hung_up_by, "caller");
  EXPECT_TRUE(r.success()) << json_;
  ASSERT_EQ(sipp->wait(10s), 0) << sipp->output();  // the scenario ends on our BYE

  const auto heard = recording();
  EXPECT_NEAR(static_cast<double>(heard.size()) / 8, r.duration_ms, 40);
  const auto runs = voiced_runs(heard);
  ASSERT_EQ(runs.size(), 1u) << describe(runs) << json_;
  // Heard after it was sent by the loop delay (jitter buffer included), and as long as sent.
  const int sent_voice = t.question_sent_ms + 300;
  EXPECT_GE(runs[0].start_ms, sent_voice) << describe(runs) << json_;
  EXPECT_LE(runs[0].start_ms, sent_voice + 250) << describe(runs) << json_;
  EXPECT_NEAR(runs[0].end_ms - runs[0].start_ms, 1000, 60) << describe(runs);
  EXPECT_NEAR(runs[0].hz, 440, 20);
}

// A far end with a known track: greeting 0-0.8 s, answer 2.5-5.5 s, answer 7.0-7.6 s after the
// ACK. The second question interrupts the first answer 1 s in; sipp does not stop talking, so
// barge_in_stop_ms measures the rest of that answer: exactly what a bot without barge-in shows.
TEST_F(CallerTest, ScriptedBotGreetingAnswersAndBargeIn) {
  bot_track({{1000, 0.8}, {0, 1.7}, {600, 3.0}, {0, 1.5}, {1000, 0.6}});
  auto sipp = far_end({"-sf", scenario("caller_uas_play.xml")}, "play");
  options_.questions = {question("q1.wav", 0.2, 0.5), question("q2.wav", 0.2, 0.5)};
  options_.interrupt_after_ms = 1000;
  const CallerReport r = call();
  ASSERT_TRUE(r.answered) << json_;
  EXPECT_TRUE(r.success()) << json_;
  ASSERT_TRUE(r.greeting_ms && r.greeting_audio_ms) << json_;
  EXPECT_LE(*r.greeting_ms, 250) << json_;
  EXPECT_NEAR(*r.greeting_audio_ms, 800, 100) << json_;
  ASSERT_EQ(r.turns.size(), 2u) << json_;
  const CallerTurn& t1 = r.turns[0];
  const CallerTurn& t2 = r.turns[1];
  ASSERT_TRUE(t1.answered && t2.answered) << json_;

  // Turn 1 was asked after the greeting's quiet: answered by the track at 2.5 s.
  EXPECT_GE(t1.question_sent_ms, 800 + options_.quiet_ms) << json_;
  EXPECT_NEAR(*t1.answer_start_ms, 2500 + 100, 150) << json_;
  // Latency is measured from the last voiced frame of the question as sent.
  const int t1_voice_end = t1.question_sent_ms + 200 + 480;
  EXPECT_NEAR(*t1.response_latency_ms, *t1.answer_start_ms - t1_voice_end, 25) << json_;
  // Interrupted: it ended where the bot stopped, 5.5 s.
  EXPECT_NEAR(*t1.answer_ms, 3000, 200) << json_;

  // Turn 2 started 1 s into answer 1; the bot talked on until 5.5 s.
  EXPECT_TRUE(t2.interrupting);
  EXPECT_TRUE(t2.bot_was_talking) << json_;
  EXPECT_NEAR(t2.question_sent_ms, *t1.answer_start_ms + 1000, 60) << json_;
  ASSERT_TRUE(t2.barge_in_stop_ms) << json_;
  EXPECT_NEAR(*t2.barge_in_stop_ms, 5500 + 100 - (t2.question_sent_ms + 200), 200) << json_;
  // Its answer is the track's 7.0 s piece, not the tail of the interrupted answer.
  EXPECT_NEAR(*t2.answer_start_ms, 7000 + 100, 150) << json_;
  EXPECT_NEAR(*t2.answer_ms, 600, 100) << json_;

  EXPECT_EQ(r.hung_up_by, "caller");
  ASSERT_EQ(sipp->wait(10s), 0) << sipp->output();  // the scenario ends with our BYE

  // The recording holds the far end's track (not our 440 Hz) where the report says.
  const auto runs = voiced_runs(recording());
  ASSERT_EQ(runs.size(), 3u) << describe(runs);
  EXPECT_NEAR(runs[0].hz, 1000, 30) << describe(runs);
  EXPECT_NEAR(runs[1].hz, 600, 30) << describe(runs);
  EXPECT_NEAR(runs[2].hz, 1000, 30) << describe(runs);
  // The recorder writes a frame where it arrived but lets it lag by up to 2 frames before it
  // pads (a late wake-up of the caller's thread leaves no hole): 3 frames of slack.
  constexpr int kRecordingSlackMs = 3 * kFrameMs;
  EXPECT_NEAR(runs[0].start_ms + kFrameMs, *r.greeting_ms, kRecordingSlackMs) << describe(runs);
  EXPECT_NEAR(runs[1].start_ms + kFrameMs, *t1.answer_start_ms, kRecordingSlackMs)
      << describe(runs);
  EXPECT_NEAR(runs[2].start_ms + kFrameMs, *t2.answer_start_ms, kRecordingSlackMs)
      << describe(runs);
  EXPECT_NEAR(runs[1].end_ms - runs[1].start_ms, 3000, 100) << describe(runs);
}

TEST_F(CallerTest, BotHangsUpMidQuestion) {
  bot_track({{1000, 0.8}});
  auto sipp = far_end({"-sf", scenario("caller_uas_hangup.xml")}, "hangup");  // BYE at 1.5 s
  options_.questions = {question("q1.wav", 0.2, 2.0)};
  const CallerReport r = call();
  EXPECT_TRUE(r.answered) << json_;
  EXPECT_EQ(r.hung_up_by, "bot") << json_;
  ASSERT_EQ(r.turns.size(), 1u) << json_;
  EXPECT_FALSE(r.turns[0].answered);
  EXPECT_FALSE(r.success());
  EXPECT_NEAR(r.duration_ms, 1500, 200) << json_;
  ASSERT_EQ(sipp->wait(10s), 0) << sipp->output();
  // Only sipp's own BYE: we sent none.
  const std::string log = logs();
  const auto first_bye = log.find("BYE sip:");
  ASSERT_NE(first_bye, std::string::npos) << log;
  EXPECT_EQ(log.find("BYE sip:", first_bye + 1), std::string::npos) << log;
}

TEST_F(CallerTest, RefusedCallReportsTheStatus) {
  auto sipp = far_end({"-sf", scenario("caller_uas_busy.xml")}, "busy");
  options_.questions = {question("q1.wav", 0.2, 0.5)};
  const CallerReport r = call();
  EXPECT_FALSE(r.answered);
  EXPECT_EQ(r.status, 486) << json_;
  EXPECT_EQ(r.phrase, "Busy Here");
  EXPECT_TRUE(r.turns.empty());
  EXPECT_FALSE(r.success());
  EXPECT_NE(json_.find("\"status\": 486"), std::string::npos);
  ASSERT_EQ(sipp->wait(10s), 0) << sipp->output();
}

TEST_F(CallerTest, SilentQuestionIsRejectedBeforeCalling) {
  options_.questions = {question("silent.wav", 1.0, 0.0)};
  options_.target = "sip:bot@127.0.0.1:9";
  Caller caller(options_, sip_, media_);
  auto report = caller.run();
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.error().message.find("silent.wav"), std::string::npos);
}

}  // namespace
}  // namespace chalkbot
