#include <iostream>

#include "cli/cli.h"
#include "media/resampler.h"
#include "media/wav.h"
#include "speech/asr/asr.h"
#include "speech/tts/tts.h"

namespace chalkbot::cli {

void add_speech_commands(CLI::App& app, Context& context) {
  auto* transcribe_cmd = app.add_subcommand("transcribe", "print what is said in a WAV file");
  static std::string in_path;
  transcribe_cmd->add_option("file", in_path, "WAV file (any common rate and channel count)")
      ->required();
  transcribe_cmd->callback([&context] {
    auto settings = context.settings();
    if (!settings) return context.fail(settings.error().message);
    auto audio = read_wav(in_path);
    if (!audio) return context.fail(audio.error().message);
    // The recognisers take telephone (8 kHz) or wide-band (16 kHz) audio.
    if (audio->sample_rate != 8000 && audio->sample_rate != 16000) {
      auto converted = resample(*audio, 16000);
      if (!converted) return context.fail(converted.error().message);
      audio = std::move(converted);
    }
    auto asr = make_asr(settings->asr);
    if (!asr) return context.fail(asr.error().message);
    auto text = transcribe(**asr, *audio);
    if (!text) return context.fail(text.error().message);
    std::cout << *text << "\n";
  });

  auto* say = app.add_subcommand("say", "speak text into a WAV file");
  static std::string text;
  static std::string out_path;
  static std::string voice;
  static int rate = 16000;
  say->add_option("text", text, "what to say")->required();
  say->add_option("-o,--out", out_path, "output WAV file")->required();
  say->add_option("--voice", voice, "voice (overrides tts.voice)");
  say->add_option("--rate", rate, "output sample rate in Hz")->check(CLI::Range(8000, 48000));
  say->callback([&context] {
    auto settings = context.settings();
    if (!settings) return context.fail(settings.error().message);
    if (!voice.empty()) settings->tts.voice = voice;
    auto tts = make_tts(settings->tts);
    if (!tts) return context.fail(tts.error().message);
    auto audio = synthesize_all(**tts, text, rate);
    if (!audio) return context.fail(audio.error().message);
    if (auto written = write_wav(out_path, *audio); !written) {
      return context.fail(written.error().message);
    }
    std::cerr << "wrote " << out_path << " (" << audio->seconds() << " s)\n";
  });
}

}  // namespace chalkbot::cli
