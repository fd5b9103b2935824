// Moonshine on the real ONNX Runtime library and the real models installed by
// scripts/install-deps: a wrong C API slot, a wrong input name or a broken decoder loop fails
// here. Real human speech (pocketsphinx-testdata) heard through 8 kHz u-law, as on a phone line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/clock.h"
#include "core/config.h"
#include "core/settings.h"
#include "media/g711.h"
#include "media/wav.h"
#include "speech/asr/moonshine_asr.h"
#include "speech/wer.h"
#include "support/asr_support.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

// The defaults, as `chalkbot serve` would resolve them, with another model if asked.
AsrSettings settings(const std::string& model = "") {
  ConfigSources sources;
  sources.env = [](const std::string&) { return std::optional<std::string>(); };
  sources.sets = {{"asr.provider", "moonshine"}};
  if (!model.empty()) sources.sets.emplace_back("asr.model", model);
  auto loaded = load_settings(sources);
  EXPECT_TRUE(loaded.ok()) << loaded.error().message;
  return loaded ? loaded->asr : AsrSettings{};
}

struct Corpus {
  std::string dir;
  std::string transcription;
};
const Corpus kLibrivox{"librivox", "transcription"};
const Corpus kCards{"cards", "cards.transcription"};

Audio phone(const std::string& path) {
  auto audio = read_wav(path, kTelephoneRate);
  EXPECT_TRUE(audio.ok()) << audio.error().message;
  return audio ? through_g711(G711Law::kMuLaw, *audio) : Audio{};
}

const std::string kFirst = "he might even have been made amiable himself";
const std::string kSecond = "unless to be rather cold hearted and rather selfish is to be ill disposed";

using testing::recognise;  // 20 ms chunks, as the call path feeds them

struct Score {
  WordErrors errors;
  double rtf = 0;
};

Score score(Asr& asr, const Corpus& corpus) {
  Score s;
  double audio_s = 0;
  const auto t0 = SteadyClock::now();
  const std::string dir = testing::speech_data_dir() + "/" + corpus.dir;
  for (const auto& u : testing::read_transcription(dir + "/" + corpus.transcription)) {
    const Audio audio = phone(dir + "/" + u.id + ".wav");
    audio_s += audio.seconds();
    auto text = recognise(asr, audio);
    EXPECT_TRUE(text.ok()) << text.error().message;
    if (!text) continue;
    std::printf("  %s: %s\n", u.id.c_str(), text->c_str());
    s.errors += word_errors(u.reference, *text);
  }
  s.rtf = elapsed_ms(t0) / 1000.0 / audio_s;
  return s;
}

class Moonshine : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto t0 = SteadyClock::now();
    auto asr = MoonshineAsr::create(settings());
    ASSERT_TRUE(asr.ok()) << asr.error().message;
    std::printf("[ figures ] moonshine tiny load %.0f ms\n", elapsed_ms(t0));
    asr_ = std::move(*asr).release();
  }
  static void TearDownTestSuite() {
    delete asr_;
    asr_ = nullptr;
  }
  static MoonshineAsr* asr_;
};
MoonshineAsr* Moonshine::asr_ = nullptr;

TEST_F(Moonshine, DecodesKnownTokenIds) {
  const std::vector<std::int64_t> hello{15043, 3186};
  EXPECT_EQ(asr_->tokens().decode(hello), "Hello world");
  const std::vector<std::int64_t> sentence{1, 450, 3186, 29889};  // <s> ▁The ▁world .
  EXPECT_EQ(asr_->tokens().decode(sentence), "The world.");
}

TEST_F(Moonshine, HearsHumanSpeechThroughAPhoneLine) {
  const Score librivox = score(*asr_, kLibrivox);
  const Score cards = score(*asr_, kCards);
  std::printf("[ figures ] moonshine tiny 8 kHz u-law: librivox WER %.3f (%zu/%zu) RTF %.3f; "
              "cards WER %.3f (%zu/%zu) RTF %.3f\n",
              librivox.errors.rate(), librivox.errors.errors, librivox.errors.reference_words,
              librivox.rtf, cards.errors.rate(), cards.errors.errors,
              cards.errors.reference_words, cards.rtf);
  EXPECT_EQ(librivox.errors.reference_words, 71U);
  WordErrors both = librivox.errors;
  both += cards.errors;
  EXPECT_LE(both.rate(), 0.08);
}

TEST_F(Moonshine, DecodesConcurrentCallsWithOneEngine) {
  const std::string dir = testing::speech_data_dir() + "/librivox/";
  const Audio a = phone(dir + "sense_and_sensibility_01_austen_64kb-0930.wav");
  const Audio b = phone(dir + "sense_and_sensibility_01_austen_64kb-0890.wav");
  Result<std::string> first = std::string();
  Result<std::string> second = std::string();
  std::thread other([&] { second = recognise(*asr_, b); });
  first = recognise(*asr_, a);
  other.join();
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(word_error_rate(kFirst, *first), 0) << *first;
  EXPECT_EQ(word_error_rate(kSecond, *second), 0)
      << *second;
}

TEST_F(Moonshine, PartialAtAPauseLeavesOnlyTheTailForFinish) {
  const std::string dir = testing::speech_data_dir() + "/librivox/";
  const Audio a = phone(dir + "sense_and_sensibility_01_austen_64kb-0930.wav");
  const Audio b = phone(dir + "sense_and_sensibility_01_austen_64kb-0890.wav");
  auto stream = asr_->open(kTelephoneRate);
  ASSERT_TRUE(stream.ok());
  (*stream)->accept(a.samples);
  const std::string first = (*stream)->partial();  // the caller pauses here
  EXPECT_EQ(word_error_rate(kFirst, first), 0) << first;
  (*stream)->accept(b.samples);
  const auto t0 = SteadyClock::now();
  ASSERT_TRUE((*stream)->finish().ok());
  const double tail_ms = elapsed_ms(t0);
  EXPECT_EQ(word_error_rate(kFirst + " " + kSecond,
                            (*stream)->result()),
            0)
      << (*stream)->result();

  // Everything decoded at the last pause: finish() only has the rest of the pause left, here
  // with line noise loud enough not to count as silence. Nothing to decode, no word imagined.
  auto quiet_end = asr_->open(kTelephoneRate);
  ASSERT_TRUE(quiet_end.ok());
  (*quiet_end)->accept(a.samples);
  (void)(*quiet_end)->partial();
  std::vector<Sample> hiss(samples_per_ms(kTelephoneRate, 120));
  std::uint32_t state = 1;
  for (auto& sample : hiss) {
    state = state * 1664525U + 1013904223U;
    sample = static_cast<Sample>(static_cast<int>(state >> 22) - 512);  // RMS about 300
  }
  (*quiet_end)->accept(hiss);
  EXPECT_EQ(word_error_rate(kFirst, (*quiet_end)->partial()), 0);  // waits for more audio
  (*quiet_end)->accept(hiss);
  const auto t1 = SteadyClock::now();
  ASSERT_TRUE((*quiet_end)->finish().ok());
  const double nothing_ms = elapsed_ms(t1);
  std::printf("[ figures ] finish after a partial: %.0f ms with a 5.3 s tail, %.1f ms with a "
              "pause\n",
              tail_ms, nothing_ms);
  EXPECT_LT(nothing_ms, 2);
  EXPECT_EQ(word_error_rate(kFirst, (*quiet_end)->result()), 0);
}

TEST_F(Moonshine, DecodeAheadDuringLongSpeechKeepsEveryWord) {
  // Two sentences back to back, fed as a call feeds them (20 ms chunks), with a decode ahead
  // every second as the agent asks while the caller speaks: the words come out the same as when
  // the whole is decoded at the end, and the first sentence is in before the end.
  const std::string dir = testing::speech_data_dir() + "/librivox/";
  Audio both = phone(dir + "sense_and_sensibility_01_austen_64kb-0930.wav");
  const Audio b = phone(dir + "sense_and_sensibility_01_austen_64kb-0890.wav");
  both.samples.insert(both.samples.end(), b.samples.begin(), b.samples.end());
  auto stream = asr_->open(kTelephoneRate);
  ASSERT_TRUE(stream.ok());
  const std::size_t chunk = samples_per_ms(kTelephoneRate, kFrameMs);
  const std::size_t every = samples_per_ms(kTelephoneRate, 1000);
  int aheads_with_words = 0;
  for (std::size_t at = 0; at < both.samples.size(); at += chunk) {
    (*stream)->accept(Samples(both.samples).subspan(at, std::min(chunk, both.samples.size() - at)));
    if ((at + chunk) % every < chunk) {
      const std::size_t words_before = (*stream)->result().size();
      (*stream)->decode_ahead();
      if ((*stream)->result().size() > words_before) ++aheads_with_words;
    }
  }
  EXPECT_GE(aheads_with_words, 1);  // in 8.6 s of speech
  const std::string before_end = (*stream)->result();
  ASSERT_TRUE((*stream)->finish().ok());
  std::printf("[ figures ] decode ahead: '%s' before the end, '%s' in all\n", before_end.c_str(),
              (*stream)->result().c_str());
  EXPECT_EQ(word_error_rate(kFirst, before_end), 0) << before_end;
  EXPECT_EQ(word_error_rate(kFirst + " " + kSecond, (*stream)->result()), 0)
      << (*stream)->result();
}

// Moonshine tiny says nothing at all when speech starts after 1.5 s or more of digital silence
// (measured on a bot answer recorded by a softphone: 1.0 s before it was heard, 1.5 s was empty).
// An utterance that begins with a long quiet stretch must still be heard.
TEST_F(Moonshine, SpeechAfterALongSilenceIsHeard) {
  const std::string dir = testing::speech_data_dir() + "/librivox/";
  const Audio speech = phone(dir + "sense_and_sensibility_01_austen_64kb-0890.wav");
  for (const int silent_ms : {1500, 3000}) {
    Audio padded{speech.sample_rate, std::vector<Sample>(
        samples_per_ms(speech.sample_rate, silent_ms), 0)};
    padded.samples.insert(padded.samples.end(), speech.samples.begin(), speech.samples.end());
    auto text = recognise(*asr_, padded);
    ASSERT_TRUE(text.ok()) << text.error().message;
    EXPECT_LE(word_error_rate(kSecond, *text), 0.1) << silent_ms << " ms: '" << *text << "'";
  }
}

TEST_F(Moonshine, TooShortOrSilentUtteranceIsEmptyText) {
  auto blip = asr_->open(kMoonshineRate);
  ASSERT_TRUE(blip.ok());
  std::vector<Sample> short_tone(kMoonshineMinSamples - 1);
  for (std::size_t i = 0; i < short_tone.size(); ++i) short_tone[i] = i % 20 < 10 ? 8000 : -8000;
  (*blip)->accept(short_tone);
  ASSERT_TRUE((*blip)->finish().ok());
  EXPECT_EQ((*blip)->result(), "");
  // The same, straight into the engine: no ORT error about the encoder's input size.
  auto direct = asr_->transcribe_16k(short_tone);
  ASSERT_TRUE(direct.ok()) << direct.error().message;
  EXPECT_EQ(*direct, "");
  auto nothing = asr_->open(kTelephoneRate);
  ASSERT_TRUE(nothing.ok());
  ASSERT_TRUE((*nothing)->finish().ok());
  EXPECT_EQ((*nothing)->result(), "");
}

TEST(MoonshineFiles, MissingModelFileIsAClearError) {
  const std::string dir = testing::make_temp_dir();
  const AsrSettings real = settings();
  std::filesystem::create_directories(dir + "/tiny");
  std::filesystem::copy_file(real.model_dir + "/tokens.txt", dir + "/tokens.txt");
  std::filesystem::copy_file(moonshine_model_file(real, "encoder_model"),
                             dir + "/tiny/encoder_model.onnx");
  AsrSettings missing = real;
  missing.model_dir = dir;
  auto failed = MoonshineAsr::create(missing);
  ASSERT_FALSE(failed.ok());
  const std::string& message = failed.error().message;
  EXPECT_NE(message.find(dir + "/tiny/decoder_model_merged.onnx"), std::string::npos) << message;
  EXPECT_NE(message.find("scripts/install-deps"), std::string::npos) << message;

  // A damaged file: named, with the way to fetch it again.
  std::ofstream(dir + "/tiny/decoder_model_merged.onnx") << "not a model";
  auto damaged = MoonshineAsr::create(missing);
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.error().message.find(dir + "/tiny/decoder_model_merged.onnx"),
            std::string::npos)
      << damaged.error().message;
  EXPECT_NE(damaged.error().message.find("install-deps"), std::string::npos);

  AsrSettings no_library = real;
  no_library.onnxruntime_library = dir + "/libonnxruntime.so";
  auto no_runtime = MoonshineAsr::create(no_library);
  ASSERT_FALSE(no_runtime.ok());
  EXPECT_NE(no_runtime.error().message.find(no_library.onnxruntime_library), std::string::npos);
  std::filesystem::remove_all(dir);
}

// Base: 72 MB more to install (CHALKBOT_MOONSHINE_MODELS="tiny base" scripts/install-deps), so
// only measured where it is there.
TEST(MoonshineBase, HearsHumanSpeechThroughAPhoneLine) {
  const AsrSettings base = settings("base");
  if (!std::filesystem::exists(moonshine_model_file(base, "encoder_model"))) {
    GTEST_SKIP() << "moonshine base is not installed";
  }
  const auto t0 = SteadyClock::now();
  auto asr = MoonshineAsr::create(base);
  ASSERT_TRUE(asr.ok()) << asr.error().message;
  std::printf("[ figures ] moonshine base load %.0f ms\n", elapsed_ms(t0));
  const Score librivox = score(**asr, kLibrivox);
  const Score cards = score(**asr, kCards);
  std::printf("[ figures ] moonshine base 8 kHz u-law: librivox WER %.3f (%zu/%zu) RTF %.3f; "
              "cards WER %.3f (%zu/%zu) RTF %.3f\n",
              librivox.errors.rate(), librivox.errors.errors, librivox.errors.reference_words,
              librivox.rtf, cards.errors.rate(), cards.errors.errors,
              cards.errors.reference_words, cards.rtf);
  WordErrors both = librivox.errors;
  both += cards.errors;
  EXPECT_EQ(both.reference_words, 92U);
  EXPECT_LE(both.rate(), 0.08);
}

}  // namespace
}  // namespace chalkbot

namespace chalkbot {
namespace {

// The turn machine decodes at the start of each pause (speculate) so that the words are ready
// when the pause ends the turn: with only silence after, finish() reuses them; with more speech,
// nothing is lost.
TEST_F(Moonshine, ASpeculativeDecodeIsReusedOnlyWhenSilenceFollows) {
  const std::string dir = testing::speech_data_dir() + "/librivox/";
  const Audio a = phone(dir + "sense_and_sensibility_01_austen_64kb-0930.wav");
  const Audio b = phone(dir + "sense_and_sensibility_01_austen_64kb-0890.wav");
  const std::vector<Sample> pause(samples_per_ms(kTelephoneRate, 100));

  auto stopped = asr_->open(kTelephoneRate);
  ASSERT_TRUE(stopped.ok());
  (*stopped)->accept(a.samples);
  const auto t0 = SteadyClock::now();
  const std::string speculated = (*stopped)->speculate();
  const double speculate_ms = elapsed_ms(t0);
  EXPECT_EQ(word_error_rate(kFirst, speculated), 0) << speculated;
  (*stopped)->accept(pause);
  const auto t1 = SteadyClock::now();
  ASSERT_TRUE((*stopped)->finish().ok());
  const double finish_ms = elapsed_ms(t1);
  EXPECT_EQ(word_error_rate(kFirst, (*stopped)->result()), 0) << (*stopped)->result();
  std::printf("[ figures ] speculative decode %.0f ms, then finish() %.1f ms\n", speculate_ms,
              finish_ms);
  EXPECT_LT(finish_ms, 2);  // the words were reused, nothing decoded

  auto went_on = asr_->open(kTelephoneRate);
  ASSERT_TRUE(went_on.ok());
  (*went_on)->accept(a.samples);
  EXPECT_EQ(word_error_rate(kFirst, (*went_on)->speculate()), 0);
  (*went_on)->accept(pause);
  (*went_on)->accept(b.samples);
  ASSERT_TRUE((*went_on)->finish().ok());
  EXPECT_EQ(word_error_rate(kFirst + " " + kSecond, (*went_on)->result()), 0)
      << (*went_on)->result();
}

}  // namespace
}  // namespace chalkbot
