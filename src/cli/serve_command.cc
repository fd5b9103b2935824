#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "agent/call_agent.h"
#include "agent/engines.h"
#include "cli/cli.h"
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

// hostname:sip_port names a node uniquely in a cluster; with a free port chosen at start (0) the
// process id stands in for the port.
std::string default_node_id(const Settings& settings) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "node");
  const int port = settings.sip.port;
  return std::string(host) + ":" + std::to_string(port != 0 ? port : static_cast<int>(getpid()));
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
    if (settings->cluster.node_id.empty()) settings->cluster.node_id = default_node_id(*settings);
    auto engines = open_engines(*settings);
    if (!engines) return context.fail(engines.error().message);
    const PromptCache prompts(*engines->tts, {settings->flow.greeting, settings->flow.reprompt,
                                              settings->flow.farewell, kApology});

    const CallServices services{*engines->asr, *engines->tts, *engines->model, *engines->store,
                                *settings,     *flow,         prompts};
    Gateway gateway(services);
    if (auto started = gateway.start(); !started) {
      return context.fail("serve: " + started.error().message);
    }
    spdlog::info("node {} listening for SIP on {}:{} ({}); LLM {} at {}",
                 settings->cluster.node_id, settings->sip.bind_address, gateway.sip_port(),
                 settings->sip.transports, settings->llm.model, settings->llm.base_url);
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
