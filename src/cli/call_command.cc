// `chalkbot call`: the scripted SIP caller (caller/caller.h) on the command line. Prints the report
// as JSON on stdout; exit code 0 when the call was answered and every question got an answer.
#include <iostream>

#include "caller/caller.h"
#include "cli/cli.h"

namespace chalkbot::cli {

void add_call_command(CLI::App& app, Context& context) {
  auto* call = app.add_subcommand(
      "call", "call a SIP URI, ask recorded questions, measure the answers (prints JSON)");
  static CallerOptions options;
  call->add_option("target", options.target, "SIP URI to call, e.g. sip:bot@127.0.0.1:5060")
      ->required();
  call->add_option("--say", options.questions, "question WAV (any rate), asked in order; repeat");
  call->add_option("--record", options.record_path, "write everything heard to this 8 kHz WAV");
  call->add_option("--dtmf-after-greeting", options.dtmf_after_greeting,
                   "keys to press (RFC 4733) once the greeting is over, e.g. 1#");
  call->add_option("--interrupt-after-ms", options.interrupt_after_ms,
                   "barge-in test: questions 2.. start this long after the previous answer began")
      ->check(CLI::Range(0, 600000));
  call->add_option("--timeout-s", options.timeout_s, "bound on the whole call")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  call->add_option("--quiet-ms", options.quiet_ms, "silence that ends the bot's speech")
      ->check(CLI::Range(100, 60000))
      ->capture_default_str();
  call->add_option("--greeting-timeout-ms", options.greeting_timeout_ms,
                   "how long to wait for a greeting (0: do not wait for one)")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  call->add_option("--answer-timeout-ms", options.answer_timeout_ms,
                   "how long an answer may take to start after a question")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  call->add_option("--voiced-rms", options.voiced_rms, "RMS above which a 20 ms frame is speech")
      ->check(CLI::Range(1.0, 32767.0))
      ->capture_default_str();
  call->add_option("--bind", options.bind_address, "local IP for SIP and RTP")
      ->capture_default_str();
  call->add_option("--sip-port", options.sip_port, "local SIP port (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  call->callback([&context] {
    auto settings = context.settings();
    if (!settings) return context.fail(settings.error().message);
    Caller caller(options, settings->sip, settings->media);
    auto report = caller.run();
    if (!report) return context.fail(report.error().message);
    std::cout << to_json(*report).dump(2) << "\n";
    if (!report->success()) context.exit_code = 1;
  });
}

}  // namespace chalkbot::cli
