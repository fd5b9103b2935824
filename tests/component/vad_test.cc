// Both voice activity detectors on real speech (pocketsphinx-testdata, heard through 8 kHz u-law
// as on a phone line). Silero runs on the real ONNX Runtime library and the real model installed
// by scripts/install-deps: a wrong C API slot or a wrong model input fails here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/config.h"
#include "core/settings.h"
#include "media/g711.h"
#include "media/resampler.h"
#include "media/wav.h"
#include "speech/vad/endpointer.h"
#include "speech/vad/silero_vad.h"
#include "speech/vad/webrtc_vad.h"
#include "support/speech_edges.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

const char* const kFiles[] = {
    "sense_and_sensibility_01_austen_64kb-0870", "sense_and_sensibility_01_austen_64kb-0880",
    "sense_and_sensibility_01_austen_64kb-0890", "sense_and_sensibility_01_austen_64kb-0920",
    "sense_and_sensibility_01_austen_64kb-0930"};

// vad.* as `chalkbot serve` resolves them (model file, ONNX Runtime library), with test timings.
VadSettings vad_settings(const std::string& provider, int mode = 3) {
  ConfigSources sources;
  sources.env = [](const std::string&) { return std::optional<std::string>(); };
  sources.sets = {{"vad.provider", provider}};
  auto loaded = load_settings(sources);
  EXPECT_TRUE(loaded.ok()) << loaded.error().message;
  VadSettings vad = loaded ? loaded->vad : VadSettings{};
  vad.mode = mode;
  vad.speech_start_ms = 60;
  vad.end_silence_ms = 500;
  vad.no_input_timeout_ms = 5000;
  vad.max_utterance_ms = 30000;
  return vad;
}

using Edges = testing::SpeechEdges;
using testing::energy_edges;

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

EdgeErrors check_file(const std::string& provider, const std::string& id, int rate, bool g711,
                      double speech_end_tolerance_ms) {
  auto speech = read_wav(testing::speech_data_dir() + "/librivox/" + id + ".wav", rate);
  EXPECT_TRUE(speech.ok()) << speech.error().message;
  if (!speech) return {};
  const Edges truth = energy_edges(*speech);
  Audio audio = padded(*speech, 1.0);
  if (g711) audio = through_g711(G711Law::kMuLaw, audio);
  const VadSettings settings = vad_settings(provider, kMode);
  auto found = detect_first_utterance(audio, settings);
  EXPECT_TRUE(found.ok()) << found.error().message;
  if (!found) return {};
  const std::string what =
      provider + ": " + id + " at " + std::to_string(rate) + (g711 ? " u-law" : "");
  const double true_start = 1000 + truth.start_ms;
  const double true_end = 1000 + truth.end_ms;
  const auto& t = found->times;
  EXPECT_EQ(found->outcome, EndpointEvent::kSpeechEnded) << what;
  EXPECT_NEAR(static_cast<double>(t.onset_ms), true_start, 150) << what;
  EXPECT_NEAR(static_cast<double>(t.speech_end_ms), true_end, speech_end_tolerance_ms) << what;
  // The endpoint: end_silence_ms after it, rounded up to whole frames (10 or 32 ms).
  const int frame_ms = provider == "silero" ? kSileroFrameMs : kWebrtcVadFrameMs;
  EXPECT_GE(t.end_ms - t.speech_end_ms, settings.end_silence_ms) << what;
  EXPECT_LT(t.end_ms - t.speech_end_ms, settings.end_silence_ms + frame_ms) << what;
  // The utterance handed on holds all the speech, onset included (pre-roll).
  const double ms_per_sample = 1000.0 / audio.sample_rate;
  EXPECT_LE(static_cast<double>(found->first_sample) * ms_per_sample, true_start - 100) << what;
  EXPECT_GE(static_cast<double>(found->end_sample) * ms_per_sample, true_end) << what;
  EXPECT_EQ(found->audio.samples.size(), found->end_sample - found->first_sample) << what;
  return {static_cast<double>(t.onset_ms) - true_start,
          static_cast<double>(t.speech_end_ms) - true_end};
}

// Every file at 16 kHz and at 8 kHz through u-law; prints the mean errors.
void check_edges(const std::string& provider, double speech_end_tolerance_ms) {
  for (const bool phone : {false, true}) {
    double onset = 0;
    double end = 0;
    for (const char* id : kFiles) {
      const EdgeErrors e =
          check_file(provider, id, phone ? 8000 : 16000, phone, speech_end_tolerance_ms);
      onset += std::abs(e.onset_ms);
      end += std::abs(e.end_ms);
    }
    std::printf("[ figures ] vad %s %s: mean |onset error| %.0f ms, mean |speech end error| "
                "%.0f ms\n", provider.c_str(), phone ? "8k u-law" : "16k", onset / 5, end / 5);
  }
}

TEST(WebrtcVad, FindsSpeechEdgesAt16kAnd8kULaw) {
  // WebRTC's own hangover makes the last voiced frame late by ~100-200 ms.
  check_edges("webrtc", 250);
}

TEST(WebrtcVad, SilenceIsNoInput) {
  Audio quiet = padded(Audio{8000, {}}, 3.0);
  VadSettings settings = vad_settings("webrtc", kMode);
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

// Silero on the same recordings. 350 ms: in -0920 a breath 200 ms after the last word (19 dB
// below the loudest frame, so not speech by the energy edges) is voice to Silero at 8 kHz.
TEST(SileroVad, FindsSpeechEdgesAt16kAnd8kULaw) { check_edges("silero", 350); }

// Each window's probability over a whole recording, with a fresh detector.
std::vector<float> probabilities(const Audio& audio, const VadSettings& settings) {
  auto vad = SileroVad::create(settings, audio.sample_rate);
  EXPECT_TRUE(vad.ok()) << vad.error().message;
  std::vector<float> out;
  if (!vad) return out;
  const std::size_t frame = (*vad)->frame_samples();
  for (std::size_t i = 0; i + frame <= audio.samples.size(); i += frame) {
    auto p = (*vad)->probability(Samples(audio.samples).subspan(i, frame));
    EXPECT_TRUE(p.ok()) << p.error().message;
    if (!p) return out;
    out.push_back(*p);
  }
  return out;
}

// The model's 8 kHz branch on phone audio: high probabilities inside the speech, low ones on the
// line noise around it, and the same decisions as its 16 kHz branch on the upsampled audio.
TEST(SileroVad, EightKhzBranchSeparatesSpeechFromLineNoise) {
  const VadSettings settings = vad_settings("silero");
  for (const char* id : kFiles) {
    auto speech = read_wav(testing::speech_data_dir() + "/librivox/" + id + ".wav", 8000);
    ASSERT_TRUE(speech.ok()) << speech.error().message;
    const Edges truth = energy_edges(*speech);
    const Audio phone = through_g711(G711Law::kMuLaw, padded(*speech, 1.0));
    const std::vector<float> p8 = probabilities(phone, settings);
    auto wide = resample(phone, 16000);
    ASSERT_TRUE(wide.ok()) << wide.error().message;
    const std::vector<float> p16 = probabilities(*wide, settings);
    ASSERT_FALSE(p8.empty());
    ASSERT_EQ(p8.size(), p16.size());  // 32 ms windows at either rate

    int noise_windows = 0, noise_voiced = 0, speech_windows = 0, speech_voiced = 0, agree = 0;
    for (std::size_t i = 0; i < p8.size(); ++i) {
      const double from = double(i) * kSileroFrameMs;
      const double to = from + kSileroFrameMs;
      const bool voiced = p8[i] >= settings.threshold;
      agree += voiced == (p16[i] >= settings.threshold) ? 1 : 0;
      if (to <= 1000 - 100 || from >= 1000 + truth.end_ms + 300) {  // the padding, well clear
        ++noise_windows;
        noise_voiced += voiced ? 1 : 0;
      } else if (from >= 1000 + truth.start_ms && to <= 1000 + truth.end_ms) {
        ++speech_windows;
        speech_voiced += voiced ? 1 : 0;
      }
    }
    std::printf("[ figures ] silero %s: speech windows voiced %d/%d, noise windows voiced %d/%d, "
                "8 vs 16 kHz agree %d/%zu\n", id, speech_voiced, speech_windows, noise_voiced,
                noise_windows, agree, p8.size());
    // Read speech has short pauses between words and phrases: most, not all, windows are voiced.
    EXPECT_GE(speech_voiced, speech_windows * 7 / 10) << id;
    EXPECT_LE(noise_voiced, 1) << id;
    EXPECT_GE(agree, static_cast<int>(p8.size()) * 85 / 100) << id;
  }
}

// Calls share one model: two detectors fed different audio, interleaved window by window, give
// exactly what each gives alone (their LSTM state is their own).
TEST(SileroVad, DetectorsSharingTheModelKeepTheirOwnState) {
  const VadSettings settings = vad_settings("silero");
  auto read_phone = [](const char* id) {
    auto audio = read_wav(testing::speech_data_dir() + "/librivox/" + id + ".wav", 8000);
    EXPECT_TRUE(audio.ok());
    return through_g711(G711Law::kMuLaw, audio ? *audio : Audio{});
  };
  const Audio a = read_phone(kFiles[0]);
  const Audio b = read_phone(kFiles[1]);
  const std::vector<float> alone_a = probabilities(a, settings);
  const std::vector<float> alone_b = probabilities(b, settings);
  auto vad_a = SileroVad::create(settings, 8000);
  auto vad_b = SileroVad::create(settings, 8000);
  ASSERT_TRUE(vad_a.ok() && vad_b.ok());
  const std::size_t frame = (*vad_a)->frame_samples();
  const std::size_t windows = std::min(alone_a.size(), alone_b.size());
  for (std::size_t i = 0; i < windows; ++i) {
    auto pa = (*vad_a)->probability(Samples(a.samples).subspan(i * frame, frame));
    auto pb = (*vad_b)->probability(Samples(b.samples).subspan(i * frame, frame));
    ASSERT_TRUE(pa.ok() && pb.ok());
    ASSERT_EQ(*pa, alone_a[i]) << "window " << i;
    ASSERT_EQ(*pb, alone_b[i]) << "window " << i;
  }
}

// Five calls' phone audio, what Silero gives each alone window by window, and a fresh detector
// per call over the shared model.
struct SileroCalls {
  SileroCalls() {
    const VadSettings settings = vad_settings("silero");
    for (const char* id : kFiles) {
      auto audio = read_wav(testing::speech_data_dir() + "/librivox/" + id + ".wav", 8000);
      EXPECT_TRUE(audio.ok());
      calls.push_back(through_g711(G711Law::kMuLaw, audio ? *audio : Audio{8000, {}}));
      alone.push_back(probabilities(calls.back(), settings));
      auto vad = SileroVad::create(settings, 8000);
      EXPECT_TRUE(vad.ok());
      if (vad) detectors.push_back(std::move(*vad));
      windows = std::min(windows, alone.back().size());
    }
  }
  std::vector<Audio> calls;
  std::vector<std::vector<float>> alone;
  std::vector<std::unique_ptr<SileroVad>> detectors;
  std::size_t windows = SIZE_MAX;
};

// Many calls' windows in one run of the model give what each call's windows give alone (to float
// rounding: a batch takes other kernels' paths), and each call's state moves on as its own.
TEST(SileroVad, ABatchOfCallsGivesWhatEachGivesAlone) {
  SileroCalls set;
  ASSERT_EQ(set.detectors.size(), set.calls.size());
  auto& [calls, alone, detectors, windows] = set;
  const std::size_t frame = detectors[0]->frame_samples();
  std::vector<SileroVad*> batch;
  for (auto& d : detectors) batch.push_back(d.get());
  float worst = 0;
  for (std::size_t i = 0; i < windows; ++i) {
    std::vector<Samples> frames;
    for (const Audio& call : calls) frames.push_back(Samples(call.samples).subspan(i * frame, frame));
    std::vector<float> p(batch.size());
    ASSERT_TRUE(SileroVad::probabilities(batch, frames, p).ok());
    for (std::size_t c = 0; c < batch.size(); ++c) worst = std::max(worst, std::abs(p[c] - alone[c][i]));
  }
  EXPECT_LT(worst, 1e-4F) << "over " << windows << " windows of " << batch.size() << " calls";
}

// The call pool's way: each round the calls look ahead at their next window, one batch computes
// them, then each call's detector is asked. A window asked about is the batch's result; one that
// differs from what was looked at (the echo guard put silence in its place), one never looked at,
// and one looked at but not asked about that round (the call did not listen) all come out as
// they would alone.
TEST(SileroVad, LookingAheadInABatchChangesNoDecision) {
  SileroCalls set;
  ASSERT_EQ(set.detectors.size(), set.calls.size());
  auto& [calls, alone, detectors, windows] = set;
  const std::size_t frame = detectors[0]->frame_samples();
  const std::vector<Sample> other(frame, 1000);
  SileroBatch batch;
  std::size_t batched = 0;
  float worst = 0;
  for (std::size_t i = 0; i < windows; ++i) {
    const auto window = [&](std::size_t c) { return Samples(calls[c].samples).subspan(i * frame, frame); };
    // Call 4 does not listen every 5th round: looked at, not asked; asked the next round.
    for (int round = 0; round < (i % 5 == 0 ? 2 : 1); ++round) {
      batch.open();
      const auto takes_part = [&](std::size_t c) { return round == 0 || c == 4; };
      for (std::size_t c = 0; c < detectors.size(); ++c) {
        if (!takes_part(c) || (c == 1 && i % 3 == 0)) continue;  // never looked at
        detectors[c]->look_ahead(c == 0 && i % 2 ? Samples(other) : window(c));  // mismatch
      }
      batch.run();
      batched += batch.size();
      for (std::size_t c = 0; c < detectors.size(); ++c) {
        if (!takes_part(c) || (c == 4 && i % 5 == 0 && round == 0)) continue;
        auto p = detectors[c]->probability(window(c));
        ASSERT_TRUE(p.ok());
        worst = std::max(worst, std::abs(*p - alone[c][i]));
      }
      batch.close();
    }
  }
  EXPECT_GT(batched, windows * 3);
  EXPECT_LT(worst, 1e-4F) << "over " << windows << " windows";
}

// Digital silence (a muted phone) stops the model runs once the model's state has nearly settled
// on it, and the speech around it is decided as when the model sees every window.
TEST(SileroVad, LongDigitalSilenceRunsNoModelAndChangesNoDecision) {
  SileroCalls set;
  ASSERT_EQ(set.detectors.size(), set.calls.size());
  const VadSettings settings = vad_settings("silero");
  const std::size_t frame = set.detectors[0]->frame_samples();
  std::size_t windows = 0;
  std::size_t skipped = 0;
  std::size_t speech_lost = 0;   // windows the model calls speech and the detector does not
  std::size_t speech_added = 0;  // the other way round
  for (const Audio& call : set.calls) {
    // 0.5 s of digital silence, the first half of the speech, 1 s of it, the rest.
    const auto half = static_cast<std::ptrdiff_t>(call.samples.size() / 2 / frame * frame);
    std::vector<Sample> muted(frame * 16, 0);
    muted.insert(muted.end(), call.samples.begin(), call.samples.begin() + half);
    muted.insert(muted.end(), frame * 31, 0);
    muted.insert(muted.end(), call.samples.begin() + half, call.samples.end());

    auto gated = SileroVad::create(settings, 8000);
    auto every_window = SileroVad::create(settings, 8000);
    ASSERT_TRUE(gated.ok() && every_window.ok());
    SpeechHysteresis hysteresis(settings.threshold);
    SileroBatch batch;
    int silent_before = 0;
    for (std::size_t i = 0; i + frame <= muted.size(); i += frame) {
      const Samples window = Samples(muted).subspan(i, frame);
      const bool silent =
          std::all_of(window.begin(), window.end(), [](Sample x) { return x == 0; });
      batch.open();
      (*gated)->look_ahead(window);
      const bool settled = silent && silent_before >= kSilentWindowsRun;
      EXPECT_EQ(batch.size(), settled ? 0U : 1U) << "window " << i / frame;
      batch.run();
      auto decided = (*gated)->is_voiced(window);
      batch.close();
      auto p = (*every_window)->probability(window);
      ASSERT_TRUE(decided.ok() && p.ok());
      ++windows;
      if (settled) ++skipped;
      const bool model_says = hysteresis.update(*p);
      if (model_says && !*decided) ++speech_lost;
      if (*decided && !model_says) ++speech_added;
      silent_before = silent ? silent_before + 1 : 0;
    }
  }
  std::printf("[ figures ] silero over digital silence: %zu of %zu windows not run; %zu speech "
              "windows lost, %zu added\n", skipped, windows, speech_lost, speech_added);
  EXPECT_GT(skipped, 150U);
  // The state kept from before the silence is close to, not exactly, where the model would have
  // taken it: a word may be voiced one window (32 ms) longer, never shorter.
  EXPECT_EQ(speech_lost, 0U);
  EXPECT_LE(speech_added * 100, windows);
}

TEST(SileroVad, DamagedModelFileIsAClearError) {
  const std::string dir = testing::make_temp_dir();
  VadSettings settings = vad_settings("silero");
  settings.model_file = dir + "/silero_vad.onnx";
  std::ofstream(settings.model_file) << "not an onnx model";
  auto vad = make_voice_detector(settings, 8000);
  std::filesystem::remove_all(dir);
  ASSERT_FALSE(vad.ok());
  const std::string& why = vad.error().message;
  EXPECT_NE(why.find("vad.model_file"), std::string::npos) << why;
  EXPECT_NE(why.find(settings.model_file), std::string::npos) << why;
  EXPECT_NE(why.find("scripts/install-deps"), std::string::npos) << why;
}

TEST(SileroVad, SilenceIsNoInput) {
  Audio quiet = padded(Audio{8000, {}}, 3.0);
  VadSettings settings = vad_settings("silero");
  settings.no_input_timeout_ms = 4000;
  auto found = detect_first_utterance(through_g711(G711Law::kMuLaw, quiet), settings);
  ASSERT_TRUE(found.ok()) << found.error().message;
  EXPECT_EQ(found->outcome, EndpointEvent::kNoInput);
}
}  // namespace
}  // namespace chalkbot
