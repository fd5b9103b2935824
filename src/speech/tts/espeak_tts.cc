// espeak-ng backend. espeak-ng is GPL-3.0: this file is compiled only with
// -DCHALKBOT_WITH_ESPEAK=ON, which makes the binary GPL.
//
// espeak-ng's API is process-wide (one current voice, one synth callback), so it is initialised
// once and every synthesis holds one mutex; the voice is re-selected under that mutex when another
// instance last used a different one. The sink is called with the mutex held and must not block.
// At an RTF below 0.001 serialising costs little.
#include <espeak-ng/speak_lib.h>

#include <exception>
#include <mutex>
#include <string>
#include <utility>

#include "core/settings.h"
#include "media/resampler.h"
#include "speech/tts/backends.h"

namespace chalkbot {
namespace {

constexpr int kSynthBufferMs = 20;  // callback granularity: one RTP packet's worth

struct Engine {
  std::mutex mutex;
  int sample_rate = 0;        // espeak's output rate (22050); 0 when initialisation failed
  std::string current_voice;  // guarded by mutex
};

struct EspeakSynthesis {
  Resampler* resampler;
  const AudioSink* sink;
  const CancelToken* cancel;
  bool stopped = false;
  std::string error;
};

// The synthesis in progress; written and read only with the engine mutex held (espeak calls back
// synchronously on the synthesizing thread).
EspeakSynthesis* g_current = nullptr;

// Returns 1 to make espeak abort the synthesis, 0 to continue.
int synth_callback(short* wav, int count, espeak_EVENT* /*events*/) {
  EspeakSynthesis* s = g_current;
  if (s == nullptr) return 0;
  if (s->stopped || s->cancel->cancelled()) {
    s->stopped = true;
    return 1;
  }
  if (wav == nullptr || count <= 0) return 0;
  // Exceptions must not unwind through espeak's C frames.
  try {
    const auto chunk = s->resampler->process(Samples(wav, static_cast<std::size_t>(count)));
    if (!chunk.empty() && !(*s->sink)(chunk)) s->stopped = true;
  } catch (const std::exception& e) {
    s->error = std::string("espeak: audio sink failed: ") + e.what();
  } catch (...) {
    s->error = "espeak: audio sink failed";
  }
  if (!s->error.empty() || s->stopped || s->cancel->cancelled()) {
    s->stopped = true;
    return 1;
  }
  return 0;
}

Engine& engine() {
  static Engine e;
  static std::once_flag once;
  std::call_once(once, [] {
    // DONT_EXIT: without it espeak-ng calls exit() when its data is missing.
    const int rate =
        espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, kSynthBufferMs, nullptr,
                          espeakINITIALIZE_DONT_EXIT);
    if (rate > 0) {
      espeak_SetSynthCallback(synth_callback);
      e.sample_rate = rate;
    }
  });
  return e;
}

// Caller holds the engine mutex.
bool select_voice(Engine& e, const std::string& voice) {
  if (e.current_voice == voice) return true;
  if (espeak_SetVoiceByName(voice.c_str()) != EE_OK) return false;
  e.current_voice = voice;
  return true;
}

class EspeakTts final : public Tts {
 public:
  explicit EspeakTts(std::string voice) : voice_(std::move(voice)) {}

  Status synthesize(std::string_view text, int sample_rate, const AudioSink& sink,
                    const CancelToken& cancel) override {
    Engine& e = engine();
    auto resampler = Resampler::create(e.sample_rate, sample_rate);
    if (!resampler) return make_error("espeak: " + resampler.error().message);
    if (text.find_first_not_of(" \t\r\n\f") == std::string_view::npos) return {};
    const std::string input(text);  // espeak needs a NUL-terminated string
    EspeakSynthesis state{&*resampler, &sink, &cancel, false, {}};
    {
      const std::lock_guard<std::mutex> lock(e.mutex);
      if (!select_voice(e, voice_)) return make_error("espeak: cannot select voice " + voice_);
      g_current = &state;
      const espeak_ERROR err = espeak_Synth(input.c_str(), input.size() + 1, 0, POS_CHARACTER, 0,
                                            espeakCHARS_UTF8, nullptr, nullptr);
      g_current = nullptr;
      if (err != EE_OK && !state.stopped) {
        return make_error("espeak: synthesis failed (error " + std::to_string(err) + ")");
      }
    }
    if (!state.error.empty()) return make_error(state.error);
    if (state.stopped || cancel.cancelled()) return {};
    try {
      const auto tail = resampler->flush();
      if (!tail.empty()) sink(tail);
    } catch (const std::exception& ex) {
      return make_error(std::string("espeak: audio sink failed: ") + ex.what());
    }
    return {};
  }

  std::string name() const override { return "espeak:" + voice_; }

 private:
  std::string voice_;
};

}  // namespace

Result<std::unique_ptr<Tts>> make_espeak_tts(const TtsSettings& settings) {
  Engine& e = engine();
  if (e.sample_rate <= 0) {
    return make_error("espeak: initialisation failed (is espeak-ng-data installed?)");
  }
  // Empty means espeak's own default language.
  const std::string voice = settings.voice.empty() ? std::string("en") : settings.voice;
  {
    const std::lock_guard<std::mutex> lock(e.mutex);
    if (!select_voice(e, voice)) {
      return make_error("tts.voice: espeak-ng has no voice '" + voice +
                        "' (try a language such as en-us, en, de; `espeak-ng --voices` lists them)");
    }
  }
  return std::unique_ptr<Tts>(std::make_unique<EspeakTts>(voice));
}

}  // namespace chalkbot
