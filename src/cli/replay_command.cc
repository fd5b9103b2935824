// `chalkbot replay`: a stored call (its recording's caller channel) or a caller's WAV run again
// through today's pipeline on a virtual clock (agent/replay.h), printed turn by turn beside what
// the stored call had; `--dir` replays a folder of WAVs against their saved expected results.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "agent/replay.h"
#include "cli/cli.h"
#include "core/clock.h"
#include "media/wav.h"
#include "speech/wer.h"
#include "store/conversation_store.h"

namespace chalkbot::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Exit codes: a difference found by --dir, and a bad argument or missing input.
constexpr int kChanged = 1;
constexpr int kBadInput = 2;

struct ReplayFlags {
  std::string input;  // a call id or a WAV file
  std::string dir;
  bool json_out = false;
  bool save = false;
  bool no_greeting = false;
  double max_wer = 0.25;
  int max_shift_ms = 200;
};

// A stored caller turn and what the bot answered it, with its stage times relative to the call.
struct StoredTurn {
  std::string heard;
  std::string answer;
  StageTimes times;
};

std::optional<std::int64_t> stage_ms(const std::optional<std::int64_t>& from,
                                     const std::optional<std::int64_t>& to) {
  if (!from || !to) return std::nullopt;
  return *to - *from;
}

json ms_or_null(const std::optional<std::int64_t>& value) {
  return value ? json(*value) : json(nullptr);
}
json ms_or_null(const std::optional<double>& value) {
  return value ? json(std::lround(*value)) : json(nullptr);
}

// The caller turns of a stored call, each with the answer that followed it.
std::vector<StoredTurn> stored_turns(const std::vector<TurnRecord>& turns) {
  std::vector<StoredTurn> out;
  for (const TurnRecord& turn : turns) {
    if (turn.role == "user") {
      out.push_back({turn.text, "", turn.times});
    } else if (!out.empty() && out.back().answer.empty()) {
      out.back().answer = turn.text;
      // The answer turn carries the whole timeline (model and TTS stamps added).
      out.back().times = turn.times;
    }
  }
  return out;
}

json turn_json(const ReplayTurn& turn) {
  return {{"heard", turn.heard},
          {"answer", turn.answer},
          {"answered", turn.answered},
          {"interrupted", turn.interrupted},
          {"speech_start_ms", turn.speech_start_ms},
          {"speech_end_ms", turn.speech_end_ms},
          {"endpoint_ms", turn.endpoint_ms},
          {"end_of_turn_wait_ms", turn.end_of_turn_wait_ms()},
          {"answer_audio_ms", turn.answer_audio_ms},
          {"asr_ms", std::lround(turn.asr_ms)},
          {"model_first_token_ms", ms_or_null(turn.model_first_token_ms)},
          {"tts_first_audio_ms", ms_or_null(turn.tts_first_audio_ms)}};
}

json stored_json(const StoredTurn& turn, std::int64_t call_start) {
  const StageTimes& t = turn.times;
  const auto at = [&](const std::optional<std::int64_t>& stamp) {
    return stamp ? json(*stamp - call_start) : json(nullptr);
  };
  return {{"heard", turn.heard},
          {"answer", turn.answer},
          {"speech_start_ms", at(t.speech_start)},
          {"speech_end_ms", at(t.speech_end)},
          {"endpoint_ms", at(t.endpoint)},
          {"end_of_turn_wait_ms", ms_or_null(stage_ms(t.speech_end, t.endpoint))},
          {"asr_ms", ms_or_null(stage_ms(t.endpoint, t.asr_done))},
          {"model_first_token_ms", ms_or_null(stage_ms(t.asr_done, t.llm_first_token))},
          {"tts_first_audio_ms", ms_or_null(stage_ms(t.first_sentence, t.tts_first_audio))}};
}

// Replay speed: virtual audio time over the real time it took.
double speed_of(const ReplayResult& result) {
  return result.wall_ms > 0 ? static_cast<double>(result.audio_ms) / result.wall_ms : 0;
}

json result_json(const std::string& input, const ReplayResult& result) {
  json turns = json::array();
  for (const ReplayTurn& turn : result.turns) turns.push_back(turn_json(turn));
  return {{"input", input},
          {"turns", turns},
          {"end_reason", result.end_reason},
          {"audio_ms", result.audio_ms},
          {"wall_ms", std::lround(result.wall_ms)},
          {"speed", std::round(speed_of(result) * 10) / 10},
          {"provider_failures", result.provider_failures}};
}

std::string ms_text(const std::optional<double>& ms) {
  return ms ? std::to_string(std::lround(*ms)) + " ms" : std::string("-");
}

std::string seconds_text(std::int64_t ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f s", static_cast<double>(ms) / 1000.0);
  return text;
}

void print_result(const std::string& input, const ReplayResult& result,
                  const std::vector<StoredTurn>* stored, std::int64_t call_start) {
  std::cout << "replay of " << input << ": " << result.turns.size() << " turn(s)";
  if (stored) std::cout << " (the stored call had " << stored->size() << ")";
  std::cout << "\n";
  const std::size_t rows = std::max(result.turns.size(), stored ? stored->size() : 0);
  for (std::size_t i = 0; i < rows; ++i) {
    std::cout << "turn " << i + 1 << "\n";
    if (i < result.turns.size()) {
      const ReplayTurn& t = result.turns[i];
      std::cout << "  heard:  " << t.heard << "\n"
                << "  answer: " << (t.answered ? t.answer : "(none)")
                << (t.interrupted ? " [interrupted]" : "") << "\n"
                << "  times:  speech " << seconds_text(t.speech_start_ms) << " - "
                << seconds_text(t.speech_end_ms) << ", turn ended " << seconds_text(t.endpoint_ms)
                << " (end-of-turn wait " << t.end_of_turn_wait_ms() << " ms), ASR "
                << ms_text(t.asr_ms) << ", model first token " << ms_text(t.model_first_token_ms)
                << ", TTS first audio " << ms_text(t.tts_first_audio_ms) << ", answer audio "
                << seconds_text(t.answer_audio_ms) << "\n";
    } else {
      std::cout << "  (no such turn in the replay)\n";
    }
    if (!stored) continue;
    if (i >= stored->size()) {
      std::cout << "  stored: (no such turn in the stored call)\n";
      continue;
    }
    const StoredTurn& s = (*stored)[i];
    const StageTimes& st = s.times;
    const auto opt = [](const std::optional<std::int64_t>& v) {
      return v ? std::optional<double>(static_cast<double>(*v)) : std::nullopt;
    };
    std::cout << "  stored: heard '" << s.heard << "'";
    if (i < result.turns.size()) {
      std::cout << " (WER "
                << std::round(word_error_rate(s.heard, result.turns[i].heard) * 100) / 100 << ")";
    }
    std::cout << "\n          answer '" << s.answer << "'\n"
              << "          turn ended "
              << (st.endpoint ? seconds_text(*st.endpoint - call_start) : std::string("-"))
              << " (end-of-turn wait " << ms_text(opt(stage_ms(st.speech_end, st.endpoint)))
              << "), ASR " << ms_text(opt(stage_ms(st.endpoint, st.asr_done)))
              << ", model first token " << ms_text(opt(stage_ms(st.asr_done, st.llm_first_token)))
              << ", TTS first audio "
              << ms_text(opt(stage_ms(st.first_sentence, st.tts_first_audio))) << "\n";
  }
  std::cout << "replayed " << seconds_text(result.audio_ms) << " of audio in "
            << std::lround(result.wall_ms) << " ms (" << std::round(speed_of(result) * 10) / 10
            << "x real time)" << (result.end_reason.empty() ? "" : ", call ended: ")
            << result.end_reason << "\n";
}

// What changed between an expected result and a replay, one line each ('' = nothing beyond the
// thresholds).
std::vector<std::string> differences(const json& expected, const ReplayResult& got,
                                     const ReplayFlags& flags) {
  std::vector<std::string> found;
  const json& turns = expected.at("turns");
  if (turns.size() != got.turns.size()) {
    found.push_back("turns: " + std::to_string(turns.size()) + " expected, " +
                    std::to_string(got.turns.size()) + " now");
  }
  for (std::size_t i = 0; i < std::min(turns.size(), got.turns.size()); ++i) {
    const std::string heard = turns[i].at("heard").get<std::string>();
    const double wer = word_error_rate(heard, got.turns[i].heard);
    if (wer > flags.max_wer) {
      found.push_back("turn " + std::to_string(i + 1) + ": heard '" + got.turns[i].heard +
                      "', expected '" + heard + "' (WER " + std::to_string(wer) + ")");
    }
    const auto endpoint = turns[i].at("endpoint_ms").get<std::int64_t>();
    const std::int64_t shift = got.turns[i].endpoint_ms - endpoint;
    if (std::abs(shift) > flags.max_shift_ms) {
      found.push_back("turn " + std::to_string(i + 1) + ": ended at " +
                      std::to_string(got.turns[i].endpoint_ms) + " ms, expected " +
                      std::to_string(endpoint) + " ms (" + (shift > 0 ? "+" : "") +
                      std::to_string(shift) + " ms)");
    }
  }
  return found;
}

class ReplayCommand {
 public:
  ReplayCommand(Context& context, const ReplayFlags& flags) : context_(context), flags_(flags) {}

  void run() {
    if (flags_.dir.empty() == flags_.input.empty()) {
      return context_.fail("replay: give a call id or a WAV file, or --dir DIR (one of them)",
                           kBadInput);
    }
    if (flags_.save && flags_.dir.empty()) {
      return context_.fail("replay: --save writes the expected results of --dir", kBadInput);
    }
    if (!flags_.dir.empty() && !fs::is_directory(flags_.dir)) {
      return context_.fail("replay: --dir " + flags_.dir + ": no such directory", kBadInput);
    }
    auto settings = context_.settings();
    if (!settings) return context_.fail(settings.error().message, kBadInput);
    settings_ = std::move(*settings);
    if (!open_engines()) return;
    if (!flags_.dir.empty()) return replay_dir();
    if (flags_.input.ends_with(".wav") || fs::exists(flags_.input)) return replay_wav();
    replay_stored_call();
  }

 private:
  bool open_engines() {
    auto flow = CallFlow::from(settings_.flow);
    if (!flow) return context_.fail(flow.error().message, kBadInput), false;
    flow_ = std::move(*flow);
    auto model = make_chat_model(settings_.llm);
    if (!model) return context_.fail(model.error().message), false;
    model_ = std::move(*model);
    auto asr = make_asr(settings_.asr);
    if (!asr) return context_.fail(asr.error().message), false;
    asr_ = std::move(*asr);
    auto tts = make_tts(settings_.tts);
    if (!tts) return context_.fail(tts.error().message), false;
    tts_ = std::move(*tts);
    return true;
  }

  Result<ReplayResult> replay(const Audio& caller) {
    ReplayOptions options;
    options.greeting = !flags_.no_greeting;
    return replay_audio({*asr_, *tts_, *model_, settings_, *flow_}, caller, options);
  }

  // The caller's side of `path`: the left channel of a recording, or a mono WAV, at 8 kHz.
  Result<Audio> caller_audio(const std::string& path) {
    if (!fs::is_regular_file(path)) return make_error(path + ": no such file");
    return read_wav_channel(path, 0, kTelephoneRate);
  }

  void replay_wav() {
    auto caller = caller_audio(flags_.input);
    if (!caller) return context_.fail("replay: " + caller.error().message, kBadInput);
    auto result = replay(*caller);
    if (!result) return context_.fail("replay: " + result.error().message);
    if (flags_.json_out) {
      std::cout << result_json(flags_.input, *result).dump(2) << "\n";
    } else {
      print_result(flags_.input, *result, nullptr, 0);
    }
  }

  void replay_stored_call() {
    const std::string& id = flags_.input;
    auto store = make_store(settings_.store);
    if (!store) return context_.fail(store.error().message);
    auto call = (*store)->call(id);
    if (!call) return context_.fail(call.error().message);
    if (!*call) {
      return context_.fail("replay: " + id + ": no such call in the store, nor a WAV file",
                           kBadInput);
    }
    auto turns = (*store)->turns(id);
    if (!turns) return context_.fail(turns.error().message);
    const std::string recording = settings_.recording.dir + "/" + id + ".wav";
    auto caller = caller_audio(recording);
    if (!caller) {
      return context_.fail("replay: call " + id + " has no recording: " + caller.error().message,
                           kBadInput);
    }
    auto result = replay(*caller);
    if (!result) return context_.fail("replay: " + result.error().message);
    const std::vector<StoredTurn> stored = stored_turns(*turns);
    const std::int64_t call_start = (*call)->started_ms;
    if (flags_.json_out) {
      json out = result_json(id, *result);
      json stored_out = json::array();
      for (const StoredTurn& turn : stored) stored_out.push_back(stored_json(turn, call_start));
      out["stored"] = {{"turns", stored_out}, {"end_reason", (*call)->end_reason}};
      std::cout << out.dump(2) << "\n";
    } else {
      print_result(id, *result, &stored, call_start);
    }
  }

  // Each WAV of the folder against its expected result (<name>.expected.json), or --save them.
  void replay_dir() {
    std::vector<fs::path> wavs;
    for (const auto& entry : fs::directory_iterator(flags_.dir)) {
      if (entry.is_regular_file() && entry.path().extension() == ".wav") {
        wavs.push_back(entry.path());
      }
    }
    std::sort(wavs.begin(), wavs.end());
    if (wavs.empty()) {
      return context_.fail("replay: --dir " + flags_.dir + ": no .wav file in it", kBadInput);
    }
    int changed = 0;
    double audio_ms = 0;
    double wall_ms = 0;
    for (const fs::path& wav : wavs) {
      fs::path expected_path = wav;
      expected_path.replace_extension(".expected.json");
      auto caller = caller_audio(wav.string());
      if (!caller) return context_.fail("replay: " + caller.error().message, kBadInput);
      auto result = replay(*caller);
      if (!result) return context_.fail("replay: " + wav.string() + ": " + result.error().message);
      audio_ms += static_cast<double>(result->audio_ms);
      wall_ms += result->wall_ms;
      const json got = result_json(wav.filename().string(), *result);
      if (flags_.save) {
        std::ofstream(expected_path) << got.dump(2) << "\n";
        std::cout << "saved   " << expected_path.string() << " (" << result->turns.size()
                  << " turns)\n";
        continue;
      }
      std::ifstream file(expected_path);
      if (!file) {
        std::cout << "MISSING " << wav.filename().string() << ": no "
                  << expected_path.filename().string() << " (run once with --save)\n";
        ++changed;
        continue;
      }
      const json expected = json::parse(file, nullptr, false);
      if (expected.is_discarded() || !expected.contains("turns")) {
        return context_.fail("replay: " + expected_path.string() + ": not an expected result",
                             kBadInput);
      }
      const auto found = differences(expected, *result, flags_);
      std::cout << (found.empty() ? "same    " : "CHANGED ") << wav.filename().string() << " ("
                << result->turns.size() << " turns)\n";
      for (const auto& line : found) std::cout << "        " << line << "\n";
      if (!found.empty()) ++changed;
    }
    std::cout << wavs.size() << " call(s), " << changed << " changed; " << std::lround(audio_ms)
              << " ms of audio in " << std::lround(wall_ms) << " ms ("
              << std::round(wall_ms > 0 ? audio_ms / wall_ms * 10 : 0) / 10 << "x real time)\n";
    if (changed > 0) context_.exit_code = kChanged;
  }

  Context& context_;
  const ReplayFlags& flags_;
  Settings settings_;
  std::optional<CallFlow> flow_;
  std::unique_ptr<ChatModel> model_;
  std::unique_ptr<Asr> asr_;
  std::unique_ptr<Tts> tts_;
};

}  // namespace

void add_replay_command(CLI::App& app, Context& context) {
  auto* replay = app.add_subcommand(
      "replay", "run a stored call or a caller's WAV again through the pipeline, turn by turn");
  static ReplayFlags flags;
  replay->add_option("input", flags.input, "a stored call's id, or a WAV of the caller");
  replay->add_option(
      "--dir", flags.dir,
      "replay every WAV in DIR against its <name>.expected.json; exit 1 on a change");
  replay->add_flag("--save", flags.save, "with --dir: write the expected results instead");
  replay->add_flag("--json", flags.json_out, "print JSON (one call)");
  replay->add_flag("--no-greeting", flags.no_greeting,
                   "the bot does not greet first (a WAV whose caller speaks at once)");
  replay->add_option("--max-wer", flags.max_wer, "with --dir: word error rate a turn may change by")
      ->check(CLI::Range(0.0, 10.0))
      ->capture_default_str();
  replay
      ->add_option("--max-shift-ms", flags.max_shift_ms,
                   "with --dir: how far a turn's end may move")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  replay->callback([&context] { ReplayCommand(context, flags).run(); });
}

}  // namespace chalkbot::cli
