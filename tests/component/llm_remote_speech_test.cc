// The remote (OpenAI-compatible) ASR and TTS backends against the local stand-in.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <numbers>
#include <thread>

#include "core/clock.h"
#include "core/settings.h"
#include "speech/asr/backends.h"
#include "speech/tts/backends.h"
#include "support/standin.h"

namespace chalkbot {
namespace {

using testing::Standin;

AsrSettings asr_settings(const Standin& standin) {
  AsrSettings s;
  s.provider = "openai";
  s.base_url = standin.base_url();
  s.api_key = "sk-asr-key";
  s.model = "whisper-1";
  s.timeout_ms = 3000;
  return s;
}

TtsSettings tts_settings(const Standin& standin) {
  TtsSettings s;
  s.provider = "openai";
  s.base_url = standin.base_url();
  s.api_key = "sk-tts-key";
  s.model = "tts-1";
  s.voice = "alloy";
  s.timeout_ms = 3000;
  return s;
}

// The stand-in's tone: 0.2 s + 50 ms per input character at 24 kHz.
std::size_t standin_samples(std::string_view text) {
  return static_cast<std::size_t>(24000 * (0.2 + 0.05 * static_cast<double>(text.size())));
}

TEST(RemoteAsr, PostsAWavAndReturnsTheText) {
  Standin standin({"--transcript", "book a table for two"});
  auto asr = make_openai_asr(asr_settings(standin));
  ASSERT_TRUE(asr) << asr.error().message;
  auto stream = (*asr)->open(8000);
  ASSERT_TRUE(stream) << stream.error().message;
  std::vector<Sample> audio(4000);
  for (std::size_t i = 0; i < audio.size(); ++i) {
    audio[i] = static_cast<Sample>(3000 * std::sin(2 * std::numbers::pi * 300 *
                                                   static_cast<double>(i) / 8000));
  }
  (*stream)->accept(Samples(audio).first(1000));  // in pieces, like the media path
  (*stream)->accept(Samples(audio).subspan(1000));
  auto finished = (*stream)->finish();
  ASSERT_TRUE(finished) << finished.error().message;
  EXPECT_EQ((*stream)->result(), "book a table for two");

  const auto seen = standin.requests();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0]["path"], "/v1/audio/transcriptions");
  EXPECT_EQ(seen[0]["authorization"], "Bearer sk-asr-key");
  EXPECT_EQ(seen[0]["fields"]["model"], "whisper-1");
  EXPECT_EQ(seen[0]["fields"]["response_format"], "json");
  EXPECT_EQ(seen[0]["wav"]["rate"], 8000);
  EXPECT_EQ(seen[0]["wav"]["channels"], 1);
  EXPECT_EQ(seen[0]["wav"]["bits"], 16);
  EXPECT_EQ(seen[0]["wav"]["samples"], 4000);
}

TEST(RemoteAsr, ServerErrorIsReported) {
  Standin standin({"--fault", "500"});
  auto asr = make_openai_asr(asr_settings(standin));
  ASSERT_TRUE(asr);
  auto stream = (*asr)->open(16000);
  ASSERT_TRUE(stream);
  const std::vector<Sample> audio(1600, 100);
  (*stream)->accept(audio);
  auto finished = (*stream)->finish();
  ASSERT_FALSE(finished);
  EXPECT_NE(finished.error().message.find("HTTP 500"), std::string::npos)
      << finished.error().message;
  EXPECT_EQ(finished.error().kind, ErrorKind::kServerError);
}

TEST(RemoteTts, StreamsPcmExactlyAt24kHz) {
  // Odd chunk sizes: every other chunk boundary splits a sample in two.
  Standin standin({"--speech-chunk-bytes", "1001", "--speech-chunk-ms", "0"});
  auto tts = make_openai_tts(tts_settings(standin));
  ASSERT_TRUE(tts) << tts.error().message;
  const std::string text = "Hello caller.";
  int chunks = 0;
  std::vector<Sample> pcm;
  auto status = (*tts)->synthesize(text, 24000, [&](Samples chunk) {
    ++chunks;
    pcm.insert(pcm.end(), chunk.begin(), chunk.end());
    return true;
  }, CancelToken{});
  ASSERT_TRUE(status) << status.error().message;
  ASSERT_EQ(pcm.size(), standin_samples(text));
  EXPECT_GT(chunks, 10);  // streamed, not delivered at once
  // Samples match the stand-in's tone exactly: a mis-carried odd byte would garble them.
  for (std::size_t i = 0; i < pcm.size(); i += 97) {
    const auto want = static_cast<int>(8000 * std::sin(2 * std::numbers::pi * 440 *
                                                       static_cast<double>(i) / 24000));
    ASSERT_NEAR(pcm[i], want, 1) << "sample " << i;
  }
  const auto seen = standin.requests();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0]["body"]["input"], text);
  EXPECT_EQ(seen[0]["body"]["voice"], "alloy");
  EXPECT_EQ(seen[0]["body"]["model"], "tts-1");
  EXPECT_EQ(seen[0]["body"]["response_format"], "pcm");
}

TEST(RemoteTts, ResamplesToTelephoneRate) {
  Standin standin({"--speech-chunk-ms", "0"});
  auto tts = make_openai_tts(tts_settings(standin));
  ASSERT_TRUE(tts);
  const std::string text = "This is a slightly longer sentence to speak.";
  auto audio = synthesize_all(**tts, text, 8000);
  ASSERT_TRUE(audio) << audio.error().message;
  EXPECT_EQ(audio->sample_rate, 8000);
  const double want = static_cast<double>(standin_samples(text)) / 3.0;
  EXPECT_NEAR(static_cast<double>(audio->samples.size()), want, want * 0.01);
}

TEST(RemoteTts, SinkFalseAndCancelStopTheTransfer) {
  Standin standin({"--speech-chunk-ms", "10"});
  auto tts = make_openai_tts(tts_settings(standin));
  ASSERT_TRUE(tts);
  const std::string text(400, 'a');  // 20 s of audio, ~1.2 s to stream
  const std::size_t full = standin_samples(text) / 3;

  // Timed from the stop to the return: the stand-in's time to start answering is not ours.
  using Ms = std::chrono::duration<double, std::milli>;
  std::size_t got = 0;
  SteadyClock::time_point stopped_at;
  auto status = (*tts)->synthesize(text, 8000, [&](Samples chunk) {
    got += chunk.size();
    stopped_at = SteadyClock::now();
    return false;
  }, CancelToken{});
  EXPECT_TRUE(status) << status.error().message;
  EXPECT_LT(Ms(SteadyClock::now() - stopped_at).count(), 60);
  EXPECT_LT(got, full / 10);

  CancelToken cancel;
  std::atomic<std::size_t> received{0};
  SteadyClock::time_point cancelled_at;
  std::thread canceller([&] {
    while (received.load() == 0) std::this_thread::sleep_for(Millis(2));
    cancelled_at = SteadyClock::now();
    cancel.cancel();
  });
  status = (*tts)->synthesize(text, 8000, [&](Samples chunk) {
    received += chunk.size();
    return true;
  }, cancel);
  const auto returned = SteadyClock::now();
  canceller.join();
  EXPECT_TRUE(status) << status.error().message;
  EXPECT_LT(Ms(returned - cancelled_at).count(), 60);
  EXPECT_LT(received.load(), full / 10);
}

TEST(RemoteTts, EmptyTextSendsNothingAndErrorsAreReported) {
  Standin standin;
  auto tts = make_openai_tts(tts_settings(standin));
  ASSERT_TRUE(tts);
  const AudioSink ignore = [](Samples) { return true; };
  EXPECT_TRUE((*tts)->synthesize("  ", 8000, ignore, CancelToken{}));
  EXPECT_EQ(standin.requests().size(), 0U);
  standin.push_faults({"503"});
  auto status = (*tts)->synthesize("hi", 8000, ignore, CancelToken{});
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("HTTP 503"), std::string::npos) << status.error().message;
  EXPECT_EQ(status.error().kind, ErrorKind::kServerError);
}

// Issue 6: a transient failure is retried once within asr.timeout_ms; the caller waits meanwhile.
TEST(RemoteAsr, TransientFailureIsRetriedOnceWithinTheTimeout) {
  Standin standin({"--transcript", "second time lucky"});
  standin.push_faults({"reset"});
  auto asr = make_openai_asr(asr_settings(standin));
  ASSERT_TRUE(asr);
  auto stream = (*asr)->open(8000);
  ASSERT_TRUE(stream);
  (*stream)->accept(std::vector<Sample>(1600, 100));
  auto finished = (*stream)->finish();
  ASSERT_TRUE(finished) << finished.error().message;
  EXPECT_EQ((*stream)->result(), "second time lucky");
  EXPECT_EQ(standin.requests().size(), 2U);
}

TEST(RemoteAsr, HangFailsAtTheTimeoutAndMalformedRepliesAreNamed) {
  Standin standin;
  auto settings = asr_settings(standin);
  settings.timeout_ms = 500;
  auto asr = make_openai_asr(settings);
  ASSERT_TRUE(asr);
  auto stream = (*asr)->open(8000);
  ASSERT_TRUE(stream);
  standin.push_faults({"hang"});
  (*stream)->accept(std::vector<Sample>(1600, 100));
  const auto start = SteadyClock::now();
  auto hung = (*stream)->finish();
  ASSERT_FALSE(hung);
  EXPECT_EQ(hung.error().kind, ErrorKind::kTimeout) << hung.error().message;
  EXPECT_LT(elapsed_ms(start), 900);
  standin.push_faults({"malformed"});
  (*stream)->accept(std::vector<Sample>(1600, 100));
  auto malformed = (*stream)->finish();
  ASSERT_FALSE(malformed);
  EXPECT_NE(malformed.error().message.find("malformed reply"), std::string::npos)
      << malformed.error().message;
  EXPECT_EQ(malformed.error().kind, ErrorKind::kMalformed);
}

TEST(RemoteTts, AReplyThatIsNotAudioIsNeverPlayed) {
  Standin standin;
  auto tts = make_openai_tts(tts_settings(standin));
  ASSERT_TRUE(tts);
  std::size_t received = 0;
  const AudioSink count = [&](Samples chunk) {
    received += chunk.size();
    return true;
  };
  standin.push_faults({"malformed"});
  auto status = (*tts)->synthesize("hello", 8000, count, CancelToken{});
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("not audio (text/html)"), std::string::npos)
      << status.error().message;
  EXPECT_EQ(status.error().kind, ErrorKind::kMalformed);
  EXPECT_EQ(received, 0U);
}

TEST(RemoteTts, AStalledStreamFailsAtTheStallTimeout) {
  Standin standin;
  auto settings = tts_settings(standin);
  settings.stall_timeout_ms = 300;
  auto tts = make_openai_tts(settings);
  ASSERT_TRUE(tts);
  const AudioSink ignore = [](Samples) { return true; };
  standin.push_faults({"hang_after_first_token"});
  const auto start = SteadyClock::now();
  auto status = (*tts)->synthesize("a sentence long enough for several chunks", 8000, ignore,
                                   CancelToken{});
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("no data from the server for 300 ms"), std::string::npos)
      << status.error().message;
  EXPECT_EQ(status.error().kind, ErrorKind::kTimeout);
  EXPECT_LT(elapsed_ms(start), 1000);
}

}  // namespace
}  // namespace chalkbot
