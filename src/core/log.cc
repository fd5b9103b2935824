#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace chalkbot {

Status init_logging(const std::string& level) {
  const auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    return make_error("log.level: unknown level '" + level + "'");
  }
  auto logger = spdlog::stderr_color_mt("chalkbot");
  spdlog::set_default_logger(logger);
  spdlog::set_level(parsed);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%t] %v");
  return {};
}

}  // namespace chalkbot
