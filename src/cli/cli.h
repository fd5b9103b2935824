#pragma once
// The command line: each subcommand lives in its own file and registers itself on the app.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "core/result.h"
#include "core/settings.h"

namespace chalkbot::cli {

// What every subcommand shares: the global configuration flags and the exit code it sets.
struct Context {
  std::string config_file;
  std::vector<std::string> sets;  // --set key=value, in order
  int exit_code = 0;

  // Loads the configuration (file, environment, --set) and sets the log level.
  Result<Settings> settings() const;
  // Prints "chalkbot: <message>" to stderr and records a failing exit code.
  void fail(const std::string& message, int code = 1);
};

void add_speech_commands(CLI::App& app, Context& context);  // transcribe, say
void add_chat_commands(CLI::App& app, Context& context);    // ask, turn
void add_store_commands(CLI::App& app, Context& context);   // calls, show
void add_config_command(CLI::App& app, Context& context);   // config
void add_serve_command(CLI::App& app, Context& context);    // serve
void add_call_command(CLI::App& app, Context& context);     // call
void add_aws_commands(CLI::App& app, Context& context);     // lambda, flow import
void add_replay_command(CLI::App& app, Context& context);   // replay
void add_memory_commands(CLI::App& app, Context& context);  // memory show, memory forget

}  // namespace chalkbot::cli
