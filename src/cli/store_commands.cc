#include <ctime>
#include <iomanip>
#include <iostream>

#include "cli/cli.h"
#include "store/conversation_store.h"

namespace chalkbot::cli {
namespace {

std::string format_time(std::int64_t ms) {
  const auto seconds = static_cast<std::time_t>(ms / 1000);
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local);
  return text;
}

// Milliseconds from `from` to `to`, or "-" when either stage did not happen.
std::string gap(const std::optional<std::int64_t>& from, const std::optional<std::int64_t>& to) {
  if (!from || !to) return "-";
  return std::to_string(*to - *from) + " ms";
}

}  // namespace

void add_store_commands(CLI::App& app, Context& context) {
  auto* calls = app.add_subcommand("calls", "list stored calls and sessions, newest first");
  static int limit = 20;
  calls->add_option("-n,--limit", limit, "how many")->check(CLI::Range(1, 100000));
  calls->callback([&context] {
    auto settings = context.settings();
    if (!settings) return context.fail(settings.error().message);
    auto store = make_store(settings->store);
    if (!store) return context.fail(store.error().message);
    auto list = (*store)->recent_calls(limit);
    if (!list) return context.fail(list.error().message);
    // With a shared (postgres) store this lists every node's calls; NODE says who holds a live one.
    std::cout << std::left << std::setw(18) << "ID" << std::setw(21) << "STARTED" << std::setw(24)
              << "FROM" << std::setw(20) << "NODE"
              << "END\n";
    for (const auto& call : *list) {
      std::cout << std::setw(18) << call.id << std::setw(21) << format_time(call.started_ms)
                << std::setw(24) << call.from << std::setw(20)
                << (call.node.empty() ? "-" : call.node)
                << (call.ended_ms ? call.end_reason : "live") << "\n";
    }
  });

  auto* show = app.add_subcommand("show", "show one stored call: every turn and its timings");
  static std::string call_id;
  show->add_option("id", call_id, "call or session id")->required();
  show->callback([&context] {
    auto settings = context.settings();
    if (!settings) return context.fail(settings.error().message);
    auto store = make_store(settings->store);
    if (!store) return context.fail(store.error().message);
    auto call = (*store)->call(call_id);
    if (!call) return context.fail(call.error().message);
    if (!call->has_value()) return context.fail("no call or session with id " + call_id);
    const CallRecord& record = **call;
    std::cout << "call " << record.id << "  from " << record.from << "  to " << record.to
              << (record.node.empty() ? "" : "  on node " + record.node)
              << "\nstarted " << format_time(record.started_ms);
    if (record.ended_ms)
      std::cout << ", ended " << format_time(*record.ended_ms) << " (" << record.end_reason << ")";
    std::cout << "\n\n";
    auto turns = (*store)->turns(call_id);
    if (!turns) return context.fail(turns.error().message);
    for (const auto& turn : *turns) {
      std::cout << "[" << turn.index << "] " << turn.role
                << (turn.interrupted ? " (interrupted)" : "") << ": " << turn.text << "\n";
      const StageTimes& t = turn.times;
      if (turn.role == "assistant" && t.done) {
        // The answer turn carries the whole exchange's timeline, from the caller's speech on.
        std::cout << "      endpoint " << gap(t.speech_end, t.endpoint) << ", asr "
                  << gap(t.endpoint, t.asr_done) << ", first token "
                  << gap(t.asr_done, t.llm_first_token) << ", first sentence "
                  << gap(t.llm_first_token, t.first_sentence) << ", first audio "
                  << gap(t.first_sentence, t.tts_first_audio) << "; response "
                  << gap(t.speech_end, t.first_rtp_out ? t.first_rtp_out : t.tts_first_audio)
                  << "\n";
      }
    }
  });
}

}  // namespace chalkbot::cli
