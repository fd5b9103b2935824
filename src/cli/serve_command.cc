#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>

#include "agent/call_agent.h"
#include "agent/engines.h"
#include "cli/cli.h"
#include "core/build_config.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/work_pool.h"
#include "metrics/chalkbot_metrics.h"
#include "server/admin_server.h"
#include "server/gateway.h"
#include "server/memory_trim.h"

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

// admin.listen, checked before anything starts: beyond loopback the API needs a token.
Result<std::optional<ListenAddress>> admin_address(const AdminSettings& admin) {
  if (admin.listen == "off") return std::optional<ListenAddress>();
  auto address = parse_listen_address(admin.listen);
  if (!address) return address.error();
  if (!address->loopback && admin.token.empty()) {
    return make_error("admin.listen: " + admin.listen +
                      " is beyond loopback; set CHALKBOT_ADMIN_TOKEN (admin.token) so the admin "
                      "API needs a bearer token, or listen on 127.0.0.1");
  }
  return std::optional<ListenAddress>(*address);
}

// Where writes the store refuses are kept: beside the SQLite file, else in the working directory.
std::string rejected_writes_path(const StoreSettings& store) {
  if (!store.rejected_path.empty()) return store.rejected_path;
  if (store.backend == "sqlite") return store.path + ".rejected.jsonl";
  return "chalkbot-rejected.jsonl";
}

// /readyz: SIP listening, the store answering and its file writable, an LLM configured.
Status readiness(const Gateway& gateway, ConversationStore& store, const Settings& settings) {
  if (gateway.sip_port() <= 0) return make_error("SIP is not listening");
  // Health first: it answers at once, while a read waits behind a write that is retrying.
  if (const StoreHealth health = store.health(); !health.writable) {
    return make_error("store: cannot write (" + health.last_error + "); " +
                      std::to_string(health.pending_writes) + " writes waiting");
  }
  if (auto counted = store.count_calls(); !counted) return counted.error();
  if (settings.store.backend == "sqlite" && ::access(settings.store.path.c_str(), W_OK) != 0) {
    return make_error("store: " + settings.store.path + " is not writable");
  }
  return require_llm_endpoint(settings);
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
    auto flow = CallFlow::from(settings->flow, settings->tools, process_env,
                               settings->memory.across_calls ? settings->memory.forget_phrases
                                                             : std::string());
    if (!flow) return context.fail(flow.error().message);
    if (settings->cluster.node_id.empty()) settings->cluster.node_id = default_node_id(*settings);
    auto admin_at = admin_address(settings->admin);
    if (!admin_at) return context.fail(admin_at.error().message);
    BufferedStore::Options store_options;
    store_options.on_write = [](double seconds) { metrics().store_write_seconds.observe(seconds); };
    store_options.rejected_path = rejected_writes_path(settings->store);
    auto engines = open_engines(*settings, std::move(store_options), flow->tools().specs());
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
    ConversationStore& store = *engines->store;
    std::vector<std::string> prompts_to_cache{settings->flow.greeting, settings->flow.reprompt,
                                              settings->flow.farewell, kApology};
    if (!flow->tools().empty()) {  // a tool's filler and apology fill a silence: no TTS wait
      prompts_to_cache.push_back(settings->tools.apology);
      for (const auto& tool : flow->tools().http().tools()) prompts_to_cache.push_back(tool.filler);
    }
    // Both rates a call can speak at: G.711 and the socket transports 8 kHz, the browser phone
    // and wideband SIP (opus, G722) 16 kHz. flite takes ~50 ms a prompt.
    const PromptCache prompts(*engines->tts, prompts_to_cache, {kTelephoneRate, kWidebandRate});

    // Provider failures are logged by the call (report_provider_failure) and counted here, by the
    // kind it found.
    const auto count_failure = [](const ProviderFailure& failure) {
      const Provider provider = failure.provider == "asr"   ? Provider::kAsr
                                : failure.provider == "tts" ? Provider::kTts
                                                            : Provider::kLlm;
      count_provider_error(provider, failure.kind);
    };
    // ASR decodes, off the calls' threads: as many at once as there are cores.
    WorkPool compute(core_count(), "compute");
    // Memory across calls: summaries written and erased on threads of its own. Declared before
    // the gateway: the calls' last summaries are written before it goes.
    CallerMemory memory(*engines->model, store, settings->memory);
    if (memory.enabled()) memory.start_retention();
    const CallServices services{*engines->asr, *engines->tts, *engines->model, store,
                                *settings,     *flow,         prompts,         compute,
                                count_failure, &memory};
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
    if (gateway.audiosocket_port() > 0) {
      spdlog::info("AudioSocket calls taken on {}", settings->audiosocket.listen);
      // Tests and scripts read the port from this line when the listen port is 0.
      std::cout << "chalkbot: audiosocket on " << gateway.audiosocket_port() << std::endl;
    }
    if (gateway.twilio_port() > 0) {
      spdlog::info("Twilio webhook {}/twilio/voice, served on {}", settings->twilio.public_url,
                   settings->twilio.listen);
      std::cout << "chalkbot: twilio on " << gateway.twilio_port() << std::endl;
    }

    // Declared after the gateway: stopped before it, as its hooks use it.
    const AdminApi api(
        {[&gateway] { return gateway.live_calls(); },
         [&gateway](const std::string& id) { return gateway.hang_up(id); },
         [&] { return readiness(gateway, store, *settings); },
         [&memory](const std::string& caller) { return memory.forget_and_wait(caller); }},
        store, metrics().registry,
        {settings->admin.token,
         settings->admin.web_dir.empty() ? CHALKBOT_WEB_DIR : settings->admin.web_dir,
         settings->recording.enabled ? settings->recording.dir : ""});
    AdminServer admin(api, gateway.browser_phone());
    if (*admin_at) {
      if (auto started = admin.start(**admin_at); !started) {
        return context.fail("serve: " + started.error().message);
      }
      spdlog::info("admin API and dashboard on http://{}:{}/", (*admin_at)->host, admin.port());
      std::cout << "chalkbot: admin on " << (*admin_at)->host << ":" << admin.port() << std::endl;
    }

    metrics().store_writable.set(1);
    MemoryTrimmer memory_trimmer;
    SteadyClock::time_point heap_sampled{};
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
      const std::size_t ended = gateway.reap();
      const auto now = SteadyClock::now();
      memory_trimmer.tick(ended, now);
      metrics().observe_store(store.health());
      // Reading it walks every malloc arena's free lists under the arena's lock: while calls
      // come and go that stalls the SIP thread's allocations, so then only every 10 s.
      if (ended == 0 || now - heap_sampled >= std::chrono::seconds(10)) {
        heap_sampled = now;
        metrics().heap_in_use_bytes.set(static_cast<double>(MemoryTrimmer::heap_in_use_bytes()));
      }
    }
  });
}

}  // namespace chalkbot::cli
