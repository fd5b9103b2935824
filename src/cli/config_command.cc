#include <iostream>

#include "cli/cli.h"
#include "core/config.h"

namespace chalkbot::cli {

void add_config_command(CLI::App& app, Context& context) {
  auto* command = app.add_subcommand("config", "show the effective configuration or the options");
  static bool print = false;
  static bool options = false;
  command->add_flag("--print", print, "print the effective configuration (secrets masked)");
  command->add_flag("--options", options, "list every option with its default and help");
  command->callback([&context] {
    if (options) {
      for (const auto& option : describe_options()) {
        std::cout << option.key << " (" << option.type << ", env " << option.env << ")\n"
                  << "    default: "
                  << (option.secret ? "(secret, environment only)" : option.default_text) << "\n"
                  << "    " << option.help << "\n";
      }
      return;
    }
    if (!print) {
      context.fail("config: give --print or --options");
      return;
    }
    auto settings = context.settings();
    if (!settings) return context.fail(settings.error().message);
    std::cout << settings_to_yaml(*settings);
  });
}

}  // namespace chalkbot::cli
