#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "core/settings.h"
#include "media/g711.h"
#include "media/wav.h"
#include "speech/vad/endpointer.h"
#include "speech/vad/webrtc_vad.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

const char* const kFiles[] = {
    "sense_and_sensibility_01_austen_64kb-0870", "sense_and_sensibility_01_austen_64kb-0880",
    "sense_and_sensibility_01_austen_64kb-0890", "sense_and_sensibility_01_austen_64kb-0920",
    "sense_and_sensibility_01_austen_64kb-0930"};

VadSettings vad_settings(int mode) {
  VadSettings vad;
  vad.mode = mode;
  vad.speech_start_ms = 60;
  vad.end_silence_ms = 500;
  vad.no_input_timeout_ms = 5000;
  vad.max_utterance_ms = 30000;
  return vad;
}

// Speech edges by energy: first and last 10 ms frame within 18 dB of the loudest frame.
struct Edges {
  double start_ms = 0;
  double end_ms = 0;
};
Edges energy_edges(const Audio& audio) {
  const std::size_t frame = samples_per_ms(audio.sample_rate, 10);
  std::vector<double> db;
  for (std::size_t i = 0; i + frame <= audio.samples.size(); i += frame) {
    double sum = 0;
    for (std::size_t j = i; j < i + frame; ++j) sum += double(audio.samples[j]) * audio.samples[j];
    db.push_back(10 * std::log10(sum / double(frame) + 1));
  }
  double peak = 0;
  for (double d : db) peak = std::max(peak, d);
  Edges e;
  std::size_t first = 0;
  std::size_t last = 0;
  for (std::size_t i = 0; i < db.size(); ++i) {
    if (db[i] > peak - 18) {
      if (first == 0 && last == 0) first = i;
      last = i;
    }
  }
  e.start_ms = double(first) * 10;
  e.end_ms = double(last + 1) * 10;
  return e;
}

// Quiet line noise (about -66 dBFS), not digital zero, around the speech.
Audio padded(const Audio& speech, double pad_s) {
  Audio out{speech.sample_rate, {}};
  std::srand(7);
  auto noise = [&](std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      out.samples.push_back(static_cast<Sample>(std::rand() % 33 - 16));
    }
  };
  const auto pad = static_cast<std::size_t>(pad_s * speech.sample_rate);
  noise(pad);
  out.samples.insert(out.samples.end(), speech.samples.begin(), speech.samples.end());
  noise(pad);
  return out;
}

// The recommended mode: 2 and below call the recordings' own noise floor (40-50 dB below a
// 69 dB peak) speech as soon as it begins.
constexpr int kMode = 3;

struct EdgeErrors {
  double onset_ms = 0;
  double end_ms = 0;
};

EdgeErrors check_file(const std::string& id, int rate, bool g711) {
  auto speech = read_wav(testing::speech_data_dir() + "/librivox/" + id + ".wav", rate);
  EXPECT_TRUE(speech.ok()) << speech.error().message;
  if (!speech) return {};
  const Edges truth = energy_edges(*speech);
  Audio audio = padded(*speech, 1.0);
  if (g711) audio = through_g711(G711Law::kMuLaw, audio);
  const VadSettings settings = vad_settings(kMode);
  auto found = detect_first_utterance(audio, settings);
  EXPECT_TRUE(found.ok()) << found.error().message;
  if (!found) return {};
  const std::string what = id + " at " + std::to_string(rate) + (g711 ? " u-law" : "");
  const double true_start = 1000 + truth.start_ms;
  const double true_end = 1000 + truth.end_ms;
  const auto& t = found->times;
  EXPECT_EQ(found->outcome, EndpointEvent::kSpeechEnded) << what;
  EXPECT_NEAR(static_cast<double>(t.onset_ms), true_start, 150) << what;
  // WebRTC's own hangover makes the last voiced frame late by ~100-200 ms.
  EXPECT_NEAR(static_cast<double>(t.speech_end_ms), true_end, 250) << what;
  EXPECT_EQ(t.end_ms - t.speech_end_ms, settings.end_silence_ms) << what;
  // The utterance handed on holds all the speech, onset included (pre-roll).
  const double ms_per_sample = 1000.0 / audio.sample_rate;
  EXPECT_LE(static_cast<double>(found->first_sample) * ms_per_sample, true_start - 100) << what;
  EXPECT_GE(static_cast<double>(found->end_sample) * ms_per_sample, true_end) << what;
  EXPECT_EQ(found->audio.samples.size(), found->end_sample - found->first_sample) << what;
  return {static_cast<double>(t.onset_ms) - true_start,
          static_cast<double>(t.speech_end_ms) - true_end};
}

TEST(WebrtcVad, FindsSpeechEdgesAt16kAnd8kULaw) {
  for (const bool phone : {false, true}) {
    double onset = 0;
    double end = 0;
    for (const char* id : kFiles) {
      const EdgeErrors e = check_file(id, phone ? 8000 : 16000, phone);
      onset += std::abs(e.onset_ms);
      end += std::abs(e.end_ms);
    }
    std::printf("[ figures ] vad mode %d %s: mean |onset error| %.0f ms, mean |speech end error| "
                "%.0f ms\n", kMode, phone ? "8k u-law" : "16k", onset / 5, end / 5);
  }
}

TEST(WebrtcVad, SilenceIsNoInput) {
  Audio quiet = padded(Audio{8000, {}}, 3.0);
  VadSettings settings = vad_settings(kMode);
  settings.no_input_timeout_ms = 4000;
  auto found = detect_first_utterance(quiet, settings);
  ASSERT_TRUE(found.ok()) << found.error().message;
  EXPECT_EQ(found->outcome, EndpointEvent::kNoInput);
  EXPECT_TRUE(found->audio.empty());
}

TEST(WebrtcVad, RejectsBadModeAndRate) {
  EXPECT_FALSE(make_webrtc_vad(8000, 4).ok());
  EXPECT_FALSE(make_webrtc_vad(44100, 2).ok());
  EXPECT_TRUE(make_webrtc_vad(16000, 0).ok());
}

}  // namespace
}  // namespace chalkbot
