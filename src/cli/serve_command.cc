#include "cli/cli.h"
#include "core/config.h"

namespace chalkbot::cli {

void add_serve_command(CLI::App& app, Context& context) {
  auto* serve = app.add_subcommand("serve", "answer phone calls (SIP)");
  serve->callback([&context] {
    auto settings = context.settings();
    if (!settings) return context.fail(settings.error().message);
    if (auto ready = require_llm_endpoint(*settings); !ready) {
      return context.fail(ready.error().message, 2);
    }
    // The SIP gateway and call agent arrive with issue 3; until then say so plainly.
    context.fail("serve: the SIP gateway is not built yet; use 'chalkbot ask' or 'chalkbot turn'",
                 3);
  });
}

}  // namespace chalkbot::cli
