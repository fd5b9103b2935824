// Component benchmark: measures each stage of a voice turn on this machine and prints a table and
// JSON. Figures only: it never fails on a time.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <sstream>
#include <ctime>

#include "agent/end_of_turn.h"
#include "agent/engines.h"
#include "agent/voice_turn.h"
#include "core/build_config.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/ids.h"
#include "core/log.h"
#include "media/g711.h"
#include "media/g722.h"
#include "media/opus_codec.h"
#include "media/resampler.h"
#include "media/wav.h"
#include "speech/asr/asr.h"
#include "speech/tts/tts.h"
#include "speech/vad/endpointer.h"
#include "speech/wer.h"
#include "support/speech_edges.h"
#include "support/standin.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

const std::string kSpeechData = "/usr/share/pocketsphinx/test/data";

struct Stats {
  std::vector<double> values;
  void add(double v) { values.push_back(v); }
  double percentile(double p) const {
    if (values.empty()) return 0;
    auto sorted = values;
    std::sort(sorted.begin(), sorted.end());
    const auto index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[index];
  }
  double median() const { return percentile(0.5); }
};

// (wav path, reference transcript) pairs from a Sphinx test-data folder's transcription file.
std::vector<std::pair<std::string, std::string>> corpus(const std::string& dir,
                                                        const std::string& transcription) {
  std::vector<std::pair<std::string, std::string>> items;
  for (const auto& item : testing::read_transcription(dir + "/" + transcription)) {
    items.emplace_back(dir + "/" + item.id + ".wav", item.reference);
  }
  return items;
}

double rms_of(Samples samples) {
  double energy = 0;
  for (const Sample s : samples) energy += static_cast<double>(s) * s;
  return std::sqrt(energy / static_cast<double>(std::max<std::size_t>(1, samples.size())));
}

// `count` values of white noise with unit RMS (a fixed sequence).
std::vector<double> white_noise(std::size_t count) {
  std::vector<double> noise(count);
  std::uint32_t state = 12345;
  for (auto& value : noise) {
    double sum = 0;  // sum of 4 uniforms: close enough to Gaussian, unit variance after scaling
    for (int k = 0; k < 4; ++k) {
      state = state * 1664525U + 1013904223U;
      sum += static_cast<double>(state) / 4294967296.0 - 0.5;
    }
    value = sum * std::sqrt(3.0);
  }
  return noise;
}

// `audio` with `noise` (unit RMS) added at `noise_rms`.
Audio mixed(const Audio& audio, const std::vector<double>& noise, double noise_rms) {
  Audio out = audio;
  for (std::size_t i = 0; i < out.samples.size() && i < noise.size(); ++i) {
    const double sum = out.samples[i] + noise[i] * noise_rms;
    out.samples[i] = static_cast<Sample>(std::clamp(sum, -32768.0, 32767.0));
  }
  return out;
}

// White noise (a fixed sequence) at `snr_db` below the speech's own RMS: a noisy line.
Audio with_noise(const Audio& audio, double snr_db) {
  const double noise_rms = rms_of(audio.samples) / std::pow(10.0, snr_db / 20.0);
  return mixed(audio, white_noise(audio.samples.size()), noise_rms);
}

// WER and speed of one provider on real speech at 8 kHz u-law, clean and with white noise at
// 20 dB SNR (a poor line) and 10 dB (a noisy room).
// finish_ms is the decode left when the utterance ends; after_pause_ms the same when partial()
// was asked at the pause before it (what the call agent does), which is what the caller waits.
nlohmann::json bench_asr(const Settings& settings) {
  const auto load_start = SteadyClock::now();
  auto asr = make_asr(settings.asr);
  if (!asr) throw std::runtime_error(asr.error().message);
  nlohmann::json out;
  out["load_ms"] = elapsed_ms(load_start);
  const auto librivox = corpus(kSpeechData + "/librivox", "transcription");
  const auto cards = corpus(kSpeechData + "/cards", "cards.transcription");
  for (const auto& [name, items, snr_db] :
       {std::tuple{"librivox", librivox, 0}, std::tuple{"cards", cards, 0},
        std::tuple{"librivox_snr20", librivox, 20}, std::tuple{"cards_snr20", cards, 20},
        std::tuple{"librivox_snr10", librivox, 10}, std::tuple{"cards_snr10", cards, 10}}) {
    WordErrors errors;
    double audio_s = 0;
    double decode_ms = 0;
    Stats finish_ms;
    Stats after_pause_ms;
    WordErrors ahead_errors;
    Stats ahead_finish_ms;
    for (const auto& [path, reference] : items) {
      auto audio = read_wav(path, kTelephoneRate);
      if (!audio) throw std::runtime_error(audio.error().message);
      const Audio phone =
          through_g711(G711Law::kMuLaw, snr_db > 0 ? with_noise(*audio, snr_db) : *audio);
      auto stream = (*asr)->open(kTelephoneRate);
      if (!stream) throw std::runtime_error(stream.error().message);
      const auto start = SteadyClock::now();
      const Samples all(phone.samples);
      for (std::size_t i = 0; i < all.size(); i += 160) {
        (*stream)->accept(all.subspan(i, std::min<std::size_t>(160, all.size() - i)));
      }
      const auto finish_start = SteadyClock::now();
      if (auto done = (*stream)->finish(); !done) throw std::runtime_error(done.error().message);
      finish_ms.add(elapsed_ms(finish_start));
      decode_ms += elapsed_ms(start);
      audio_s += phone.seconds();
      errors += word_errors(reference, (*stream)->result());

      // The same utterance with a look at the pause: the agent asks partial() after 150 ms of
      // silence; the end of the turn comes 150 ms later.
      auto paused = (*asr)->open(kTelephoneRate);
      if (!paused) throw std::runtime_error(paused.error().message);
      (*paused)->accept(all);
      (void)(*paused)->partial();
      (*paused)->accept(std::vector<Sample>(samples_per_ms(kTelephoneRate, 150), 0));
      const auto end_of_turn = SteadyClock::now();
      if (auto done = (*paused)->finish(); !done) throw std::runtime_error(done.error().message);
      after_pause_ms.add(elapsed_ms(end_of_turn));

      // Fed as a call feeds it, with a decode ahead every asr.decode_ahead_ms of speech and no
      // look at a pause: what a caller who never pauses leaves for the end of the turn.
      auto ahead = (*asr)->open(kTelephoneRate);
      if (!ahead) throw std::runtime_error(ahead.error().message);
      const std::size_t every =
          samples_per_ms(kTelephoneRate, std::max(settings.asr.decode_ahead_ms, kFrameMs));
      for (std::size_t i = 0; i < all.size(); i += 160) {
        (*ahead)->accept(all.subspan(i, std::min<std::size_t>(160, all.size() - i)));
        if ((i + 160) % every < 160) (*ahead)->decode_ahead();
      }
      const auto ahead_end = SteadyClock::now();
      if (auto done = (*ahead)->finish(); !done) throw std::runtime_error(done.error().message);
      ahead_finish_ms.add(elapsed_ms(ahead_end));
      ahead_errors += word_errors(reference, (*ahead)->result());
    }
    out[name] = {{"files", items.size()},
                 {"words", errors.reference_words},
                 {"wer", errors.rate()},
                 {"rtf", decode_ms / 1000.0 / audio_s},
                 {"finish_ms_median", finish_ms.median()},
                 {"after_pause_ms_median", after_pause_ms.median()},
                 {"decode_ahead_wer", ahead_errors.rate()},
                 {"decode_ahead_finish_ms_median", ahead_finish_ms.median()},
                 {"decode_ahead_finish_ms_max", ahead_finish_ms.percentile(1.0)}};
  }
  return out;
}

// WER of one ASR on the same human speech as a call carries it: G.711 u-law at 8 kHz, G.722 and
// Opus at 16 kHz (and Opus losing every 20th packet, rebuilt from FEC), with uncoded 16 kHz as the
// ceiling; clean and with white noise at 20 and 10 dB SNR added before the codec (a noisy room:
// the noise is wideband, so narrowband keeps less of it). Also each codec's CPU per 20 ms.
nlohmann::json bench_codecs(const Settings& settings) {
  auto asr = make_asr(settings.asr);
  if (!asr) throw std::runtime_error(asr.error().message);
  nlohmann::json out;
  out["asr"] = settings.asr.provider;
  const auto librivox = corpus(kSpeechData + "/librivox", "transcription");
  const auto cards = corpus(kSpeechData + "/cards", "cards.transcription");
  auto items = librivox;
  items.insert(items.end(), cards.begin(), cards.end());
  std::vector<Audio> recordings;
  for (const auto& [path, reference] : items) {
    auto audio = read_wav(path, kWidebandRate);
    if (!audio) throw std::runtime_error(audio.error().message);
    recordings.push_back(std::move(*audio));
  }
  const auto check = [](Result<Audio> audio) {
    if (!audio) throw std::runtime_error(audio.error().message);
    return std::move(*audio);
  };
  using Coder = std::function<Audio(const Audio&)>;
  const std::vector<std::pair<std::string, Coder>> codecs{
      {"pcm_16k", [](const Audio& a) { return a; }},
      {"g711u_8k",
       [&](const Audio& a) {
         return through_g711(G711Law::kMuLaw, check(resample(a, kTelephoneRate)));
       }},
      {"g722", [&](const Audio& a) { return check(through_g722(a)); }},
      {"opus", [&](const Audio& a) { return check(through_opus(a)); }},
      {"opus_loss5_fec", [&](const Audio& a) { return check(through_opus(a, {}, 20)); }},
  };
  for (const auto& [condition, snr_db] :
       {std::pair{"clean", 0}, std::pair{"snr20", 20}, std::pair{"snr10", 10}}) {
    for (const auto& [codec, code] : codecs) {
      WordErrors errors;
      for (std::size_t i = 0; i < items.size(); ++i) {
        const Audio heard =
            code(snr_db > 0 ? with_noise(recordings[i], snr_db) : recordings[i]);
        auto stream = (*asr)->open(heard.sample_rate);
        if (!stream) throw std::runtime_error(stream.error().message);
        const Samples all(heard.samples);
        const std::size_t chunk = samples_per_ms(heard.sample_rate, kFrameMs);
        for (std::size_t at = 0; at < all.size(); at += chunk) {
          (*stream)->accept(all.subspan(at, std::min(chunk, all.size() - at)));
        }
        if (auto done = (*stream)->finish(); !done) throw std::runtime_error(done.error().message);
        errors += word_errors(items[i].second, (*stream)->result());
      }
      out["wer"][condition][codec] = errors.rate();
    }
  }
  out["files"] = items.size();

  // CPU of one call direction each way: encode and decode every 20 ms frame of the recordings.
  std::size_t frames = 0;
  for (const auto& r : recordings) frames += r.samples.size() / OpusRtp::kSamplesPer20Ms;
  const auto per_frame_us = [&](const std::function<void()>& run) {
    const auto start = SteadyClock::now();
    run();
    return elapsed_ms(start) * 1000.0 / static_cast<double>(frames);
  };
  out["cpu_us_per_20ms_encode_and_decode"]["g722"] = per_frame_us([&] {
    for (const auto& r : recordings) (void)check(through_g722(r));
  });
  out["cpu_us_per_20ms_encode_and_decode"]["opus"] = per_frame_us([&] {
    for (const auto& r : recordings) (void)check(through_opus(r));
  });
  OpusEncoderSettings most_complex;
  most_complex.complexity = 10;
  out["cpu_us_per_20ms_encode_and_decode"]["opus_complexity10"] = per_frame_us([&] {
    for (const auto& r : recordings) (void)check(through_opus(r, most_complex));
  });
  std::vector<Audio> narrow;
  for (const auto& r : recordings) narrow.push_back(check(resample(r, kTelephoneRate)));
  out["cpu_us_per_20ms_encode_and_decode"]["g711u"] = per_frame_us([&] {
    for (const auto& r : narrow) (void)through_g711(G711Law::kMuLaw, r);
  });
  return out;
}

void print_codecs(const nlohmann::json& codecs) {
  std::printf("WER (%%) of %s on %d human recordings by codec\n",
              codecs["asr"].get<std::string>().c_str(), codecs["files"].get<int>());
  std::printf("  %-8s %9s %9s %9s %9s %15s\n", "noise", "pcm_16k", "g711u_8k", "g722", "opus",
              "opus_loss5_fec");
  for (const std::string condition : {"clean", "snr20", "snr10"}) {
    const auto& row = codecs["wer"][condition];
    std::printf("  %-8s %9.1f %9.1f %9.1f %9.1f %15.1f\n", condition.c_str(),
                row["pcm_16k"].get<double>() * 100, row["g711u_8k"].get<double>() * 100,
                row["g722"].get<double>() * 100, row["opus"].get<double>() * 100,
                row["opus_loss5_fec"].get<double>() * 100);
  }
  // A call codes and decodes 50 frames a second each way: the codec's share of a core per call.
  for (const auto& [codec, us] : codecs["cpu_us_per_20ms_encode_and_decode"].items()) {
    std::printf("  %-17s encode + decode of 20 ms: %8.1f us (codec alone: %6.0f calls per core)\n",
                codec.c_str(), us.get<double>(), 20000.0 / std::max(us.get<double>(), 0.001));
  }
}

// How the words at a pause judge the end of a turn (agent/end_of_turn): each utterance through
// 8 kHz u-law, recognised as at a pause (partial()), then "finished" (the turn ends at
// vad.finished_silence_ms), "unfinished" (it waits vad.unfinished_silence_ms) or neither
// (vad.end_silence_ms). Finished questions and statements come from two TTS voices; real speech
// is the human recordings whole, and cut at a gap between words in their middle (unfinished).
// A cut sentence judged finished is a turn ended too soon.
nlohmann::json bench_end_of_turn(const Settings& settings) {
  auto asr = make_asr(settings.asr);
  if (!asr) throw std::runtime_error(asr.error().message);
  struct Judged {
    int finished = 0, unfinished = 0, neither = 0;
    std::vector<std::string> heard;
  };
  const auto judge = [&](const Audio& audio_8k, Judged& into) {
    const Audio phone = through_g711(G711Law::kMuLaw, audio_8k);
    auto stream = (*asr)->open(kTelephoneRate);
    if (!stream) throw std::runtime_error(stream.error().message);
    (*stream)->accept(phone.samples);
    const std::string words = (*stream)->partial();
    if (sounds_unfinished(words)) {
      ++into.unfinished;
    } else if (sounds_finished(words)) {
      ++into.finished;
    } else {
      ++into.neither;
    }
    into.heard.push_back(words);
  };
  const std::vector<std::string> questions{
      "What time do you open on Sunday?",       "Can I book a table for two tonight?",
      "How much does the basic plan cost?",     "Where is your nearest store?",
      "Is the pharmacy open today?",            "What is the capital of France?",
      "Could you tell me my account balance?",  "Do you deliver to Boston?",
      "How long does shipping take?",           "Who do I talk to about a refund?"};
  const std::vector<std::string> statements{
      "I want to cancel my subscription.", "My name is John Smith.", "Yes, that is right.",
      "I would like to speak to a manager.", "The order number is four five six."};
  const std::vector<std::string> unfinished{
      "I would like to book a table for",  "My account number is",     "Can you tell me about the",
      "I was wondering if",                "Hello",                    "Um, so",
      "I need to change my",               "The problem is that",      "Could I speak to",
      "Good morning"};
  nlohmann::json out;
  std::vector<std::string> voices{"flite"};
#if CHALKBOT_WITH_ESPEAK
  voices.push_back("espeak");
#endif
  std::map<std::string, Judged> sets;
  for (const auto& voice : voices) {
    TtsSettings tts_settings = settings.tts;
    tts_settings.provider = voice;
    auto tts = make_tts(tts_settings);
    if (!tts) throw std::runtime_error(tts.error().message);
    for (const auto& [name, texts] : {std::pair{"tts_questions", &questions},
                                      std::pair{"tts_statements", &statements},
                                      std::pair{"tts_unfinished", &unfinished}}) {
      for (const auto& text : *texts) {
        auto audio = synthesize_all(**tts, text, kTelephoneRate);
        if (!audio) throw std::runtime_error(audio.error().message);
        judge(*audio, sets[name]);
      }
    }
  }
  for (const auto& [dir, transcription] :
       {std::pair{"librivox", "transcription"}, std::pair{"cards", "cards.transcription"}}) {
    for (const auto& [path, reference] : corpus(kSpeechData + "/" + dir, transcription)) {
      auto audio = read_wav(path, kTelephoneRate);
      if (!audio) throw std::runtime_error(audio.error().message);
      judge(*audio, sets["human_sentences"]);
      // The quietest 20 ms between 35 % and 65 % of the recording: a gap between two words.
      const std::size_t frame = samples_per_ms(kTelephoneRate, kFrameMs);
      const std::size_t n = audio->samples.size();
      std::size_t cut = n / 2;
      double quietest = -1;
      for (std::size_t at = n * 35 / 100; at + frame <= n * 65 / 100; at += frame / 2) {
        double power = 0;
        for (std::size_t i = at; i < at + frame; ++i) {
          power += static_cast<double>(audio->samples[i]) * audio->samples[i];
        }
        if (quietest < 0 || power < quietest) {
          quietest = power;
          cut = at + frame / 2;
        }
      }
      Audio half = *audio;
      half.samples.resize(cut);
      judge(half, sets["human_cut_mid_sentence"]);
    }
  }
  for (const auto& [name, judged] : sets) {
    out[name] = {{"utterances", judged.finished + judged.unfinished + judged.neither},
                 {"finished", judged.finished},
                 {"unfinished", judged.unfinished},
                 {"neither", judged.neither},
                 {"heard", judged.heard}};
  }
  return out;
}

nlohmann::json bench_tts(const Settings& settings, const std::string& provider, int runs) {
  TtsSettings tts_settings = settings.tts;
  tts_settings.provider = provider;
  auto tts = make_tts(tts_settings);
  if (!tts) return {{"error", tts.error().message}};
  const std::vector<std::string> texts{
      "The capital of France is Paris.",
      "Your appointment is on Tuesday at three thirty in the afternoon.",
      "I am sorry, I did not catch that. Could you say it again, please?"};
  Stats first_audio;
  double synth_ms = 0;
  double audio_s = 0;
  for (int run = 0; run < runs; ++run) {
    for (const auto& text : texts) {
      std::size_t samples = 0;
      std::optional<double> first;
      const auto start = SteadyClock::now();
      auto status = (*tts)->synthesize(
          text, kTelephoneRate,
          [&](Samples chunk) {
            if (!first) first = elapsed_ms(start);
            samples += chunk.size();
            return true;
          },
          CancelToken{});
      if (!status) return {{"error", status.error().message}};
      synth_ms += elapsed_ms(start);
      audio_s += static_cast<double>(samples) / kTelephoneRate;
      first_audio.add(first.value_or(0));
    }
  }
  return {{"first_audio_ms_median", first_audio.median()},
          {"first_audio_ms_p95", first_audio.percentile(0.95)},
          {"rtf", synth_ms / 1000.0 / audio_s}};
}

nlohmann::json bench_llm(const Settings& base, int requests) {
  // The stand-in answers at once (no scripted latency), so what is measured is the client's own
  // cost plus loopback HTTP and the stand-in's Python.
  testing::Standin standin({"--ttft-ms", "0", "--tokens-per-sec", "0"});
  LlmSettings llm = base.llm;
  llm.base_url = standin.base_url();
  auto model = make_chat_model(llm);
  if (!model) throw std::runtime_error(model.error().message);
  Stats first_token;
  Stats total;
  const std::vector<ChatMessage> messages{{"system", llm.system_prompt},
                                          {"user", "What is the capital of France?"}};
  for (int i = 0; i < requests; ++i) {
    std::optional<double> first;
    const auto start = SteadyClock::now();
    auto reply = (*model)->stream(
        messages,
        [&](std::string_view) {
          if (!first) first = elapsed_ms(start);
          return true;
        },
        CancelToken{});
    if (!reply) throw std::runtime_error(reply.error().message);
    total.add(elapsed_ms(start));
    first_token.add(first.value_or(0));
  }
  return {{"requests", requests},
          {"first_token_ms_median", first_token.median()},
          {"first_token_ms_p95", first_token.percentile(0.95)},
          {"total_ms_median", total.median()}};
}

nlohmann::json bench_turn(const Settings& base, int turns) {
  testing::Standin standin({"--ttft-ms", "0", "--tokens-per-sec", "0", "--script",
                            testing::tests_dir() + "/data/standin_script.json"});
  Settings settings = base;
  settings.llm.base_url = standin.base_url();
  const std::string dir = testing::make_temp_dir();
  settings.store.path = dir + "/bench.db";
  auto engines = open_engines(settings);
  if (!engines) throw std::runtime_error(engines.error().message);
  auto& asr = engines->asr;
  auto& tts = engines->tts;
  auto& model = engines->model;
  auto& store = engines->store;
  // The question as a caller's phone would deliver it: synthesized, 8 kHz, G.711, with silence.
  auto spoken = synthesize_all(*tts, "What is the capital of France?", kTelephoneRate);
  if (!spoken) throw std::runtime_error(spoken.error().message);
  Audio question{kTelephoneRate, std::vector<Sample>(kTelephoneRate / 2, 0)};
  question.samples.insert(question.samples.end(), spoken->samples.begin(), spoken->samples.end());
  question.samples.insert(question.samples.end(), kTelephoneRate, 0);
  question = through_g711(G711Law::kMuLaw, question);

  Stats asr_ms, llm_ms, tts_ms, after_endpoint;
  for (int i = 0; i < turns; ++i) {
    const std::string id = new_id();
    if (!store->begin_call({id, "bench", "chalkbot", wall_ms(), {}, "", ""})) {
      throw std::runtime_error("store");
    }
    Conversation conversation(*model, *store, settings, id);
    auto turn = run_voice_turn(question, *asr, *tts, conversation, settings, kTelephoneRate);
    if (!turn) throw std::runtime_error(turn.error().message);
    const StageTimes& t = turn->times;
    if (!t.asr_done || !t.llm_first_token || !t.tts_first_audio) continue;
    asr_ms.add(static_cast<double>(*t.asr_done - *t.endpoint));
    llm_ms.add(static_cast<double>(*t.llm_first_token - *t.asr_done));
    tts_ms.add(static_cast<double>(*t.tts_first_audio - *t.llm_first_token));
    after_endpoint.add(static_cast<double>(*t.tts_first_audio - *t.endpoint));
  }
  std::filesystem::remove_all(dir);
  return {{"turns", asr_ms.values.size()},
          {"asr_ms_median", asr_ms.median()},
          {"llm_first_token_ms_median", llm_ms.median()},
          {"tts_first_audio_ms_median", tts_ms.median()},
          {"endpoint_to_first_audio_ms_median", after_endpoint.median()},
          {"end_silence_ms", settings.vad.end_silence_ms}};
}

// Voice activity detection: both detectors on the 10 human recordings (librivox + cards) through
// 8 kHz u-law, each padded with 1 s of quiet line noise before and 1.5 s after, clean, with white
// line noise at 20 and 10 dB SNR, and with babble (3 other recordings, shifted and looped) at
// 10 dB. The reference speech edges come from the clean recording's energy
// (testing::energy_edges). The endpointer runs with the call's settings (vad.end_silence_ms 300)
// and restarts after each utterance, as in a call.
struct VadRun {
  std::vector<UtteranceTimes> utterances;  // those that ended (or were cut by the end of input)
  int starts = 0;                          // kSpeechStarted events
  double cpu_ms = 0;
};

double thread_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1000.0 + static_cast<double>(t.tv_nsec) / 1e6;
}

VadRun run_vad(const VadSettings& vad, const Audio& phone) {
  auto detector = make_voice_detector(vad, kTelephoneRate);
  if (!detector) throw std::runtime_error(detector.error().message);
  UtteranceDetector utterances(std::move(*detector), EndpointerConfig::from(vad));
  VadRun run;
  const double cpu_start = thread_cpu_ms();
  // Handles what one push reported; a final event leaves the rest of the chunk pending.
  const auto feed = [&](Samples chunk) {
    for (;;) {
      auto event = utterances.push(chunk);
      if (!event) throw std::runtime_error(event.error().message);
      if (*event == EndpointEvent::kSpeechStarted) ++run.starts;
      if (*event == EndpointEvent::kNone || *event == EndpointEvent::kSpeechStarted) return;
      if (*event != EndpointEvent::kNoInput) run.utterances.push_back(utterances.endpointer().times());
      utterances.reset();
      chunk = {};
    }
  };
  const Samples all(phone.samples);
  const std::size_t chunk = samples_per_ms(kTelephoneRate, kFrameMs);
  for (std::size_t i = 0; i < all.size(); i += chunk) {
    feed(all.subspan(i, std::min(chunk, all.size() - i)));
  }
  if (utterances.finish() == EndpointEvent::kSpeechEnded) {
    run.utterances.push_back(utterances.endpointer().times());
  }
  run.cpu_ms = thread_cpu_ms() - cpu_start;
  return run;
}

nlohmann::json bench_vad(const Settings& base) {
  std::vector<Audio> recordings;
  for (const auto& [dir, transcription] :
       {std::pair{"/librivox", "transcription"}, std::pair{"/cards", "cards.transcription"}}) {
    for (const auto& [path, words] : corpus(kSpeechData + dir, transcription)) {
      auto audio = read_wav(path, kTelephoneRate);
      if (!audio) throw std::runtime_error(audio.error().message);
      recordings.push_back(std::move(*audio));
    }
  }
  const std::size_t lead = samples_per_ms(kTelephoneRate, 1000);
  const std::size_t tail = samples_per_ms(kTelephoneRate, 1500);
  const std::size_t noise_only = samples_per_ms(kTelephoneRate, 5000);
  // Quiet line noise (about -66 dBFS) under everything: a phone line is never digital zero.
  const std::vector<double> line = white_noise(lead + tail + noise_only + 20 * kTelephoneRate);
  const auto quiet = [&](std::size_t count) {
    return mixed(Audio{kTelephoneRate, std::vector<Sample>(count, 0)}, line, 16);
  };
  // Babble for recording `index`: three others, each from another offset, looped, unit RMS.
  const auto babble = [&](std::size_t index, std::size_t count) {
    std::vector<double> sum(count, 0.0);
    for (std::size_t k = 1; k <= 3; ++k) {
      const auto& other = recordings[(index + k) % recordings.size()].samples;
      const double rms = rms_of(other);
      for (std::size_t i = 0; i < count; ++i) {
        sum[i] += other[(i + k * 3217) % other.size()] / rms;
      }
    }
    const double total = std::sqrt(std::inner_product(sum.begin(), sum.end(), sum.begin(), 0.0) /
                                   static_cast<double>(count));
    for (double& v : sum) v /= total;
    return sum;
  };

  nlohmann::json out;
  out["recordings"] = recordings.size();
  out["end_silence_ms"] = base.vad.end_silence_ms;
  for (const char* provider : {"webrtc", "silero"}) {
    VadSettings vad = base.vad;
    vad.provider = provider;
    vad.no_input_timeout_ms = 0;
    for (const auto& [condition, snr_db, is_babble] :
         {std::tuple{"clean", 0, false}, std::tuple{"white_snr20", 20, false},
          std::tuple{"white_snr10", 10, false}, std::tuple{"babble_snr10", 10, true}}) {
      Stats endpoint_delay;
      Stats onset_delay;
      int missed = 0;
      int split = 0;
      int false_starts = 0;
      double cpu_ms = 0;
      double audio_s = 0;
      for (std::size_t r = 0; r < recordings.size(); ++r) {
        const Audio& speech = recordings[r];
        const testing::SpeechEdges edges = testing::energy_edges(speech);
        const double true_start = 1000 + edges.start_ms;
        const double true_end = 1000 + edges.end_ms;
        Audio padded = quiet(lead);
        padded.samples.insert(padded.samples.end(), speech.samples.begin(), speech.samples.end());
        const Audio after = quiet(tail);
        padded.samples.insert(padded.samples.end(), after.samples.begin(), after.samples.end());
        const double noise_rms =
            snr_db > 0 ? rms_of(speech.samples) / std::pow(10.0, snr_db / 20.0) : 0;
        const std::size_t length = padded.samples.size() + noise_only;
        const std::vector<double> noise = is_babble ? babble(r, length) : white_noise(length);
        const std::vector<double> later(noise.begin() + static_cast<std::ptrdiff_t>(padded.samples.size()),
                                        noise.end());

        const VadRun heard = run_vad(vad, through_g711(G711Law::kMuLaw, mixed(padded, noise, noise_rms)));
        const VadRun nothing =
            run_vad(vad, through_g711(G711Law::kMuLaw, mixed(quiet(noise_only), later, noise_rms)));
        cpu_ms += heard.cpu_ms + nothing.cpu_ms;
        audio_s += static_cast<double>(length) / kTelephoneRate;
        false_starts += nothing.starts;

        int in_speech = 0;  // utterances overlapping the reference speech
        const UtteranceTimes* first = nullptr;
        const UtteranceTimes* last = nullptr;
        for (const auto& u : heard.utterances) {
          if (static_cast<double>(u.onset_ms) < true_end &&
              static_cast<double>(u.speech_end_ms) > true_start) {
            ++in_speech;
            if (first == nullptr) first = &u;
            last = &u;
          }
        }
        if (first == nullptr) {
          ++missed;
          continue;
        }
        if (in_speech > 1) ++split;
        onset_delay.add(static_cast<double>(first->started_at_ms) - true_start);
        endpoint_delay.add(static_cast<double>(last->speech_end_ms) - true_end);
      }
      out[provider][condition] = {
          {"speech_end_to_last_voiced_ms_p50", endpoint_delay.median()},
          {"speech_end_to_last_voiced_ms_p95", endpoint_delay.percentile(0.95)},
          {"speech_start_to_started_ms_p50", onset_delay.median()},
          {"speech_start_to_started_ms_p95", onset_delay.percentile(0.95)},
          {"missed", missed},
          {"split", split},
          {"false_starts_in_noise", false_starts},
          {"noise_s", static_cast<double>(recordings.size() * noise_only) / kTelephoneRate},
          {"cpu_ms_per_audio_s", cpu_ms / audio_s}};
    }
  }
  return out;
}

void print_vad(const nlohmann::json& vad) {
  std::printf("  VAD on %d recordings at 8 kHz u-law (vad.end_silence_ms %d): hangover = last "
              "voiced frame - energy speech end; start = speech started - energy speech start\n",
              vad["recordings"].get<int>(), vad["end_silence_ms"].get<int>());
  std::printf("  %-8s %-13s %9s %9s %9s %9s %6s %6s %13s %8s\n", "vad", "condition",
              "hang p50", "hang p95", "start p50", "start p95", "missed", "split",
              "false starts", "cpu ms/s");
  for (const char* provider : {"webrtc", "silero"}) {
    for (const std::string condition : {"clean", "white_snr20", "white_snr10", "babble_snr10"}) {
      const auto& f = vad[provider][condition];
      std::printf("  %-8s %-13s %9.0f %9.0f %9.0f %9.0f %6d %6d %6d in %3.0fs %8.2f\n", provider,
                  condition.c_str(), f["speech_end_to_last_voiced_ms_p50"].get<double>(),
                  f["speech_end_to_last_voiced_ms_p95"].get<double>(),
                  f["speech_start_to_started_ms_p50"].get<double>(),
                  f["speech_start_to_started_ms_p95"].get<double>(), f["missed"].get<int>(),
                  f["split"].get<int>(), f["false_starts_in_noise"].get<int>(),
                  f["noise_s"].get<double>(), f["cpu_ms_per_audio_s"].get<double>());
    }
  }
}

}  // namespace
}  // namespace chalkbot

int main(int argc, char** argv) {
  using namespace chalkbot;  // NOLINT(google-build-using-namespace): a main()
  CLI::App app{"Chalkbot component benchmark"};
  std::string json_path;
  int runs = 3;
  app.add_option("--json", json_path, "also write the JSON figures to this file");
  app.add_option("--runs", runs, "repetitions of the short measurements")->check(CLI::Range(1, 50));
  bool vad_only = false;
  app.add_flag("--vad-only", vad_only, "only the voice activity detector figures");
  bool codecs_only = false;
  app.add_flag("--codecs-only", codecs_only, "only the WER and CPU by codec (G.711, G.722, Opus)");
  CLI11_PARSE(app, argc, argv);

  ConfigSources sources;
  sources.env = [](const std::string&) { return std::optional<std::string>(); };  // defaults only
  auto settings = load_settings(sources);
  if (!settings) {
    std::cerr << settings.error().message << "\n";
    return 1;
  }
  spdlog::set_level(spdlog::level::warn);

  nlohmann::json figures;
  if (codecs_only) {
    try {
      figures["asr_by_codec"] = bench_codecs(*settings);
    } catch (const std::exception& e) {
      std::cerr << "bench: " << e.what() << "\n";
      return 1;
    }
    print_codecs(figures["asr_by_codec"]);
    std::printf("%s\n", figures.dump(2).c_str());
    if (!json_path.empty()) std::ofstream(json_path) << figures.dump(2) << "\n";
    return 0;
  }
  if (vad_only) {
    try {
      figures["vad_8k_ulaw"] = bench_vad(*settings);
    } catch (const std::exception& e) {
      std::cerr << "bench: " << e.what() << "\n";
      return 1;
    }
    print_vad(figures["vad_8k_ulaw"]);
    std::printf("%s\n", figures.dump(2).c_str());
    if (!json_path.empty()) std::ofstream(json_path) << figures.dump(2) << "\n";
    return 0;
  }
  try {
    figures["vad_8k_ulaw"] = bench_vad(*settings);
    for (const char* provider : {"moonshine", "pocketsphinx"}) {
      ConfigSources asr_sources = sources;
      asr_sources.sets = {{"asr.provider", provider}};
      auto asr_settings = load_settings(asr_sources);
      if (!asr_settings) throw std::runtime_error(asr_settings.error().message);
      figures[std::string("asr_") + provider + "_8k_ulaw"] = bench_asr(*asr_settings);
    }
    figures["asr_by_codec"] = bench_codecs(*settings);
    figures["tts_flite"] = bench_tts(*settings, "flite", runs);
#if CHALKBOT_WITH_ESPEAK
    figures["tts_espeak"] = bench_tts(*settings, "espeak", runs);
#endif
    figures["llm_client"] = bench_llm(*settings, 10 * runs);
    figures["offline_turn"] = bench_turn(*settings, runs);
    figures["end_of_turn_words"] = bench_end_of_turn(*settings);
  } catch (const std::exception& e) {
    std::cerr << "bench: " << e.what() << "\n";
    return 1;
  }

  auto row = [](const std::string& what, double value, const std::string& unit) {
    std::printf("  %-52s %10.3f %s\n", what.c_str(), value, unit.c_str());
  };
  std::printf("Chalkbot component figures (this machine)\n");
  for (const char* provider : {"moonshine", "pocketsphinx"}) {
    const auto& asr = figures[std::string("asr_") + provider + "_8k_ulaw"];
    const std::string what = std::string("ASR ") + provider;
    row(what + " load", asr["load_ms"], "ms");
    for (const char* corpus_name :
         {"librivox", "cards", "librivox_snr20", "cards_snr20", "librivox_snr10", "cards_snr10"}) {
      const auto& a = asr[corpus_name];
      row(what + " 8 kHz u-law WER, " + corpus_name, a["wer"].get<double>() * 100, "%");
      row(what + " real-time factor, " + corpus_name, a["rtf"], "");
      row(what + " end-of-utterance decode (median), " + corpus_name, a["finish_ms_median"], "ms");
      row(what + " same after a partial at the pause, " + corpus_name,
          a["after_pause_ms_median"], "ms");
      row(what + " WER with decode ahead, no pause, " + corpus_name,
          a["decode_ahead_wer"].get<double>() * 100, "%");
      row(what + " end decode after decode ahead (median), " + corpus_name,
          a["decode_ahead_finish_ms_median"], "ms");
    }
  }
  for (const char* tts_name : {"tts_flite", "tts_espeak"}) {
    if (!figures.contains(tts_name) || figures[tts_name].contains("error")) continue;
    row(std::string(tts_name) + " first audio (median)", figures[tts_name]["first_audio_ms_median"],
        "ms");
    row(std::string(tts_name) + " real-time factor at 8 kHz", figures[tts_name]["rtf"], "");
  }
  row("LLM client first token vs instant stand-in (median)",
      figures["llm_client"]["first_token_ms_median"], "ms");
  row("LLM client first token (p95)", figures["llm_client"]["first_token_ms_p95"], "ms");
  const auto& turn = figures["offline_turn"];
  row("turn: endpoint -> ASR done (median)", turn["asr_ms_median"], "ms");
  row("turn: ASR done -> LLM first token (median)", turn["llm_first_token_ms_median"], "ms");
  row("turn: LLM first token -> TTS first audio (median)", turn["tts_first_audio_ms_median"], "ms");
  row("turn: endpoint -> first answer audio (median)", turn["endpoint_to_first_audio_ms_median"],
      "ms");
  for (const auto& [set, judged] : figures["end_of_turn_words"].items()) {
    std::printf("  end of turn by words, %-24s %2d utterances: %2d finished, %2d unfinished, "
                "%2d neither\n",
                set.c_str(), judged["utterances"].get<int>(), judged["finished"].get<int>(),
                judged["unfinished"].get<int>(), judged["neither"].get<int>());
  }
  print_vad(figures["vad_8k_ulaw"]);
  print_codecs(figures["asr_by_codec"]);
  std::printf("%s\n", figures.dump(2).c_str());
  if (!json_path.empty()) std::ofstream(json_path) << figures.dump(2) << "\n";
  return 0;
}
