#pragma once
// Logging through spdlog to stderr. Never log secrets (API keys, Authorization headers).
#include <spdlog/spdlog.h>

#include <string>

#include "core/result.h"

namespace chalkbot {

// Sets the process-wide level ("trace" ... "off"); call once at start-up.
Status init_logging(const std::string& level);

}  // namespace chalkbot
