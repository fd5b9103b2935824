// flite backend (BSD-style licence): the cmu_us_slt clustergen voice, 16 kHz, streamed.
//
// Latency: text is split into sentences and each sentence is one flite utterance whose waveform
// is streamed through flite's audio-streaming callback as the vocoder produces it. Measured on the
// dev machine, a two-sentence answer gave first audio after ~120 ms as one utterance but ~50 ms
// per sentence, and streaming inside the utterance roughly halves it again against waiting for
// the whole wave.
//
// Thread-safety: utterances are synthesised in parallel on the callers' threads, all with the one
// voice. flite 2.2 allows it because synthesis only reads what is shared: the utterance links the
// voice's features (utt_init -> feat_link_into) and every write goes to the utterance; the
// lexicon, CARTs and clustergen model are static tables; the only writable globals besides
// cst_errjmp are the regex compiler's (never called while synthesising: the tokenizer's regexes
// are precompiled) and the voice and language lists (written when loading). register_cmu_us_slt
// returns one cached voice, so a voice per thread is not on offer, and not needed. Checked under
// helgrind, and byte-exact by tests/component/flite_parallel_test.cc.
//
// Two process-wide things remain and are accepted:
// - cst_errjmp is one pointer for the process, so a setjmp guard per thread would let one
//   thread's flite error longjmp onto another thread's stack. It is left unset: flite then prints
//   its message and exits. Its error sites are internal invariants (a val of the wrong type, a
//   missing relation, a corrupt regex program, a failed allocation), none reached from text.
// - the excitation noise comes from libc rand(), whose state is shared (and locked) by glibc, so
//   parallel runs draw interleaved noise: the audio is equally good but not bit-exact.
// Per-synthesis state (the streaming info, resampler and sink) lives on the caller's stack and is
// attached to the utterance, never to the shared voice.
#include <flite/flite.h>

#include <exception>
#include <mutex>  // std::once_flag
#include <string>
#include <string_view>
#include <vector>

#include "core/settings.h"
#include "media/resampler.h"
#include "speech/tts/backends.h"

extern "C" cst_voice* register_cmu_us_slt(const char* voxdir);

namespace chalkbot {
namespace {

constexpr int kFliteRate = 16000;
constexpr int kStreamChunkSamples = 320;  // 20 ms at 16 kHz: small enough for early first audio

// The voice is loaded once and shared for the life of the process (never deleted).
cst_voice* slt_voice() {
  static std::once_flag once;
  static cst_voice* voice = nullptr;
  std::call_once(once, [] {
    flite_init();
    voice = register_cmu_us_slt(nullptr);
  });
  return voice;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

// Splits after sentence punctuation (plus closing quotes/brackets) followed by white space, and at
// line breaks. Pieces that are only white space are dropped.
std::vector<std::string> split_sentences(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  const auto push = [&out, &current] {
    for (char c : current) {
      if (!is_space(c)) {
        out.push_back(current);
        break;
      }
    }
    current.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      push();
      continue;
    }
    current.push_back(c);
    if (c == '.' || c == '!' || c == '?' || c == ';') {
      std::size_t j = i + 1;
      while (j < text.size() && (text[j] == '"' || text[j] == '\'' || text[j] == ')' ||
                                 text[j] == ']' || text[j] == '.' || text[j] == '!' ||
                                 text[j] == '?')) {
        current.push_back(text[j]);
        ++j;
      }
      i = j - 1;
      if (j >= text.size() || is_space(text[j])) push();
    }
  }
  push();
  return out;
}

// One synthesize() call's state, reached from flite's C callback through asi->userdata.
struct FliteSynthesis {
  Resampler* resampler;
  const AudioSink* sink;
  const CancelToken* cancel;
  bool stopped = false;
  std::string error;  // set when the callback failed; synthesis then stops
};

int stream_chunk(const cst_wave* wave, int start, int size, int /*last*/,
                 cst_audio_streaming_info* asi) {
  auto* s = static_cast<FliteSynthesis*>(asi->userdata);
  if (s->stopped || s->cancel->cancelled()) {
    s->stopped = true;
    return CST_AUDIO_STREAM_STOP;
  }
  if (size <= 0) return CST_AUDIO_STREAM_CONT;
  if (wave->sample_rate != kFliteRate) {
    s->error = "flite: unexpected voice sample rate " + std::to_string(wave->sample_rate);
    return CST_AUDIO_STREAM_STOP;
  }
  // Exceptions must not unwind through flite's C frames.
  try {
    const auto chunk = s->resampler->process(
        Samples(wave->samples + start, static_cast<std::size_t>(size)));
    if (!chunk.empty() && !(*s->sink)(chunk)) s->stopped = true;
  } catch (const std::exception& e) {
    s->error = std::string("flite: audio sink failed: ") + e.what();
  } catch (...) {
    s->error = "flite: audio sink failed";
  }
  if (!s->error.empty() || s->stopped || s->cancel->cancelled()) {
    s->stopped = true;
    return CST_AUDIO_STREAM_STOP;
  }
  return CST_AUDIO_STREAM_CONT;
}

class FliteTts final : public Tts {
 public:
  explicit FliteTts(cst_voice* voice) : voice_(voice) {}

  Status synthesize(std::string_view text, int sample_rate, const AudioSink& sink,
                    const CancelToken& cancel) override {
    auto resampler = Resampler::create(kFliteRate, sample_rate);
    if (!resampler) return make_error("flite: " + resampler.error().message);
    FliteSynthesis state{&*resampler, &sink, &cancel, false, {}};
    for (const std::string& sentence : split_sentences(text)) {
      if (state.stopped || cancel.cancelled()) return {};
      if (auto status = speak_sentence(sentence, state); !status) return status;
      if (!state.error.empty()) return make_error(state.error);
    }
    if (state.stopped || cancel.cancelled()) return {};
    try {
      const auto tail = resampler->flush();
      if (!tail.empty()) sink(tail);
    } catch (const std::exception& e) {
      return make_error(std::string("flite: audio sink failed: ") + e.what());
    }
    return {};
  }

  std::string name() const override { return "flite:slt"; }

 private:
  Status speak_sentence(const std::string& sentence, FliteSynthesis& state) {
    // Both are owned by the utterance's feature once attached, freed by delete_utterance.
    cst_utterance* utt = new_utterance();
    cst_audio_streaming_info* asi = new_audio_streaming_info();
    asi->asc = stream_chunk;
    asi->min_buffsize = kStreamChunkSamples;
    asi->userdata = &state;
    utt_set_input_text(utt, sentence.c_str());
    utt_init(utt, voice_);
    // Set on the utterance, whose features shadow the shared voice's: per-synthesis state.
    feat_set(utt->features, "streaming_info", audio_streaming_info_val(asi));
    const bool ok = utt_synth(utt) != nullptr;  // a module gave up; the utterance is still ours
    delete_utterance(utt);
    if (!ok) return make_error("flite: synthesis failed for \"" + sentence + "\"");
    return {};
  }

  cst_voice* voice_;
};

}  // namespace

Result<std::unique_ptr<Tts>> make_flite_tts(const TtsSettings& settings) {
  if (!settings.voice.empty() && settings.voice != "slt") {
    return make_error("tts.voice: flite has no voice '" + settings.voice +
                      "' (this build has only 'slt')");
  }
  cst_voice* voice = slt_voice();
  if (voice == nullptr) return make_error("flite: could not load the cmu_us_slt voice");
  return std::unique_ptr<Tts>(std::make_unique<FliteTts>(voice));
}

}  // namespace chalkbot
