#include <csignal>
#include <ctime>
#include <iostream>

#include "agent/call_agent.h"
#include "agent/engines.h"
#include "cli/cli.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "server/gateway.h"

namespace chalkbot::cli {
namespace {

// Blocks SIGTERM/SIGINT in this thread and every thread started after it, so they are taken
// only by sigtimedwait() in the main loop: no work in signal handlers.
sigset_t block_shutdown_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

}  // namespace

void add_serve_command(CLI::App& app, Context& context) {
  auto* serve = app.add_subcommand("serve", "answer phone calls (SIP)");
  serve->callback([&context] {
    const sigset_t signals = block_shutdown_signals();
    auto settings = context.settings();
    if (!settings) return context.fail(settings.error().message);
    if (auto ready = require_llm_endpoint(*settings); !ready) {
      return context.fail(ready.error().message, 2);
    }
    auto flow = CallFlow::from(settings->flow);
    if (!flow) return context.fail(flow.error().message);
    auto engines = open_engines(*settings);
    if (!engines) return context.fail(engines.error().message);
    if (settings->store.backend == "sqlite") {  // this server owns the file: no call is live yet
      auto closed = close_unended_calls(*engines->store, wall_ms(), "lost");
      if (!closed) {
        spdlog::warn("store: cannot close the calls a previous run left open: {}",
                     closed.error().message);
      } else if (*closed > 0) {
        spdlog::warn("store: {} calls left open by a previous run (killed mid-call) closed as "
                     "'lost'", *closed);
      }
    }
    const PromptCache prompts(*engines->tts, {settings->flow.greeting, settings->flow.reprompt,
                                              settings->flow.farewell, kApology});

    const CallServices services{*engines->asr, *engines->tts, *engines->model, *engines->store,
                                *settings,     *flow,         prompts};
    Gateway gateway(services);
    if (auto started = gateway.start(); !started) {
      return context.fail("serve: " + started.error().message);
    }
    spdlog::info("listening for SIP on {}:{} ({}); LLM {} at {}", settings->sip.bind_address,
                 gateway.sip_port(), settings->sip.transports, settings->llm.model,
                 settings->llm.base_url);
    // Tests and scripts read the port from this line when sip.port is 0.
    std::cout << "chalkbot: listening on " << settings->sip.bind_address << ":"
              << gateway.sip_port() << std::endl;

    const timespec tick{1, 0};
    while (true) {
      const int signal = sigtimedwait(&signals, nullptr, &tick);
      if (signal == SIGTERM || signal == SIGINT) {
        spdlog::info("shutting down: {} calls get up to {} s to finish", gateway.active_calls(),
                     settings->flow.shutdown_grace_s);
        gateway.drain(std::chrono::seconds(settings->flow.shutdown_grace_s));
        spdlog::info("all calls ended; store closed");
        return;
      }
      gateway.reap();
    }
  });
}

}  // namespace chalkbot::cli
