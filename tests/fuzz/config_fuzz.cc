// The config loader on arbitrary YAML files and --set pairs. Input: YAML, then optionally a NUL
// byte and one "key=value" for --set.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const auto nul = all.find('\0');
  const std::string_view yaml = all.substr(0, nul);
  const int fd = memfd_create("config_fuzz", 0);
  if (fd < 0) return 0;
  if (write(fd, yaml.data(), yaml.size()) == static_cast<ssize_t>(yaml.size())) {
    chalkbot::ConfigSources sources;
    sources.file = "/proc/self/fd/" + std::to_string(fd);
    sources.env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    if (nul != std::string_view::npos) {
      const std::string_view set = all.substr(nul + 1);
      const auto eq = set.find('=');
      sources.sets.emplace_back(std::string(set.substr(0, eq)),
                                eq == std::string_view::npos ? "" : std::string(set.substr(eq + 1)));
    }
    auto settings = chalkbot::load_settings(sources);
    if (settings) (void)chalkbot::settings_to_yaml(*settings);
  }
  close(fd);
  return 0;
}
