#include "support/test_support.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <vector>

#include "core/config.h"

namespace chalkbot::testing {

std::vector<Transcribed> read_transcription(const std::string& path) {
  std::vector<Transcribed> items;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const auto open = line.rfind('(');
    const auto close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) continue;
    std::string id = line.substr(open + 1, close - open - 1);
    if (const auto slash = id.rfind('/'); slash != std::string::npos) id = id.substr(slash + 1);
    items.push_back({id, line.substr(0, open)});
  }
  return items;
}

Settings default_settings() {
  ConfigSources sources;
  sources.env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  auto settings = load_settings(sources);
  if (!settings) throw std::runtime_error("default settings: " + settings.error().message);
  return *settings;
}

std::string make_temp_dir() {
  std::string pattern = "/tmp/chalkbot-test-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return buffer.data();
}

std::size_t threads_in_process() {
  return static_cast<std::size_t>(std::distance(
      std::filesystem::directory_iterator("/proc/self/task"), std::filesystem::directory_iterator{}));
}

}  // namespace chalkbot::testing
