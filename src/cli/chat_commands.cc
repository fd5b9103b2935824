#include <nlohmann/json.hpp>

#include <iostream>

#include "agent/conversation.h"
#include "agent/engines.h"
#include "agent/voice_turn.h"
#include "cli/cli.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/ids.h"
#include "media/wav.h"
#include "speech/asr/asr.h"
#include "speech/tts/tts.h"

namespace chalkbot::cli {
namespace {

// Opens the store and the session's call record: continues `session` if given, else starts one.
Result<std::string> open_session(ConversationStore& store, const std::string& session,
                                 const std::string& origin) {
  if (!session.empty()) {
    auto existing = store.call(session);
    if (!existing) return existing.error();
    if (existing->has_value()) return session;
  }
  CallRecord call{session.empty() ? new_id() : session, origin, "chalkbot", wall_ms(), {}, "",
                  ""};
  if (auto begun = store.begin_call(call); !begun) return begun.error();
  return call.id;
}

// Milliseconds between two stages, null when either did not happen.
nlohmann::json span(const std::optional<std::int64_t>& from,
                    const std::optional<std::int64_t>& to) {
  if (!from || !to) return nullptr;
  return *to - *from;
}

}  // namespace

void add_chat_commands(CLI::App& app, Context& context) {
  static std::string session;

  auto* ask =
      app.add_subcommand("ask", "ask the model a question in text; memory kept per session");
  static std::string question;
  ask->add_option("question", question, "the question")->required();
  ask->add_option("--session", session, "continue this session (default: a new one)");
  ask->callback([&context] {
    auto settings = context.settings();
    if (!settings) return context.fail(settings.error().message);
    if (auto ready = require_llm_endpoint(*settings); !ready) {
      return context.fail(ready.error().message, 2);
    }
    auto model = make_chat_model(settings->llm);
    if (!model) return context.fail(model.error().message);
    auto store = make_store(settings->store);
    if (!store) return context.fail(store.error().message);
    auto id = open_session(**store, session, "cli:ask");
    if (!id) return context.fail(id.error().message);

    Conversation conversation(**model, **store, *settings, *id);
    StageTimes times;
    AnswerCallbacks print{[](std::string_view delta) { std::cout << delta << std::flush; }, {}};
    auto answer = conversation.answer(question, times, print, CancelToken{});
    std::cout << "\n";
    if (!answer) return context.fail(answer.error().message);
    if (!answer->store_error.empty()) return context.fail(answer->store_error);
    std::cerr << "session: " << *id << "\n";
    if (answer->model_failed) context.fail("the model failed: " + answer->error.message, 3);
  });

  auto* turn =
      app.add_subcommand("turn", "one offline voice turn: WAV question in, WAV answer out");
  static std::string in_path;
  static std::string out_path;
  static int out_rate = kTelephoneRate;
  turn->add_option("--in", in_path, "the spoken question (WAV)")->required();
  turn->add_option("--out", out_path, "where to write the spoken answer (WAV)")->required();
  turn->add_option("--rate", out_rate, "answer sample rate in Hz")->check(CLI::Range(8000, 48000));
  turn->add_option("--session", session, "continue this session (default: a new one)");
  turn->callback([&context] {
    auto settings = context.settings();
    if (!settings) return context.fail(settings.error().message);
    if (auto ready = require_llm_endpoint(*settings); !ready) {
      return context.fail(ready.error().message, 2);
    }
    auto input = read_wav(in_path);
    if (!input) return context.fail(input.error().message);
    auto engines = open_engines(*settings);
    if (!engines) return context.fail(engines.error().message);
    auto id = open_session(*engines->store, session, "cli:turn");
    if (!id) return context.fail(id.error().message);

    Conversation conversation(*engines->model, *engines->store, *settings, *id);
    auto result =
        run_voice_turn(*input, *engines->asr, *engines->tts, conversation, *settings, out_rate);
    if (!result) return context.fail(result.error().message);
    if (!result->answer.store_error.empty()) return context.fail(result->answer.store_error);
    if (auto written = write_wav(out_path, result->answer_audio); !written) {
      return context.fail(written.error().message);
    }
    const StageTimes& t = result->times;
    nlohmann::json summary{{"session", *id},
                           {"question", result->question},
                           {"answer", result->answer.text},
                           {"model_failed", result->answer.model_failed},
                           {"answer_seconds", result->answer_audio.seconds()},
                           {"timings_ms",
                            {{"asr", span(t.endpoint, t.asr_done)},
                             {"llm_first_token", span(t.asr_done, t.llm_first_token)},
                             {"first_audio", span(t.llm_first_token, t.tts_first_audio)},
                             {"response", span(t.speech_end, t.tts_first_audio)}}}};
    std::cout << summary.dump(2) << "\n";
    if (result->question.empty()) context.fail("no speech recognised in " + in_path, 4);
  });
}

}  // namespace chalkbot::cli
