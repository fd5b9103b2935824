#pragma once
// Configuration: one YAML file, CHALKBOT_<SECTION>_<KEY> environment overrides, then `--set
// key=value` flags, in that order of precedence (later wins). Every option is declared once, in
// config.cc, with its default, type, limits and help; loading validates and names the bad key.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/settings.h"

namespace chalkbot {

struct OptionInfo {
  std::string key;   // "llm.base_url"
  std::string env;   // "CHALKBOT_LLM_BASE_URL"
  std::string type;  // string | integer | number | boolean
  std::string default_text;
  std::string help;
  bool secret = false;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
std::optional<std::string> process_env(const std::string& name);

struct ConfigSources {
  std::optional<std::string> file;                        // YAML path, if any
  std::vector<std::pair<std::string, std::string>> sets;  // --set key=value, in order
  EnvLookup env = process_env;
};

Result<Settings> load_settings(const ConfigSources& sources);

// Every declared option, for `config --options` and the README.
std::vector<OptionInfo> describe_options();

// The effective configuration as YAML, secrets masked.
std::string settings_to_yaml(const Settings& settings);

// Fails, naming what to set, unless a model endpoint is configured: an API key, or a base URL
// other than OpenAI's (a local server needs no key).
Status require_llm_endpoint(const Settings& settings);

}  // namespace chalkbot
