#include <iostream>

#include "cli/cli.h"
#include "core/build_config.h"
#include "core/config.h"
#include "core/log.h"

namespace chalkbot::cli {

Result<Settings> Context::settings() const {
  ConfigSources sources;
  if (!config_file.empty()) sources.file = config_file;
  for (const auto& set : sets) {
    const auto eq = set.find('=');
    if (eq == std::string::npos || eq == 0) {
      return make_error("--set " + set + ": expected key=value, e.g. --set llm.model=gpt-4o");
    }
    sources.sets.emplace_back(set.substr(0, eq), set.substr(eq + 1));
  }
  auto loaded = load_settings(sources);
  if (loaded) {
    if (auto status = init_logging(loaded->log.level); !status) return status.error();
  }
  return loaded;
}

void Context::fail(const std::string& message, int code) {
  std::cerr << "chalkbot: " << message << "\n";
  exit_code = code;
}

}  // namespace chalkbot::cli

int main(int argc, char** argv) {
  CLI::App app{"Chalkbot: call a phone number, talk with an LLM"};
  app.set_version_flag("--version", CHALKBOT_VERSION);
  app.require_subcommand(1);
  chalkbot::cli::Context context;
  app.add_option("-c,--config", context.config_file, "YAML configuration file")
      ->check(CLI::ExistingFile);
  app.add_option("--set", context.sets, "override one option: --set section.key=value");

  chalkbot::cli::add_serve_command(app, context);
  chalkbot::cli::add_speech_commands(app, context);
  chalkbot::cli::add_chat_commands(app, context);
  chalkbot::cli::add_store_commands(app, context);
  chalkbot::cli::add_config_command(app, context);
  chalkbot::cli::add_call_command(app, context);
  chalkbot::cli::add_aws_commands(app, context);
  chalkbot::cli::add_replay_command(app, context);
  chalkbot::cli::add_memory_commands(app, context);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // A bad argument is a usage error (exit 2); --help and --version exit 0.
    return app.exit(error) == 0 ? 0 : 2;
  }
  return context.exit_code;
}
