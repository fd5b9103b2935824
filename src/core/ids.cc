#include "core/ids.h"

#include <cstdint>
#include <cstdio>
#include <random>

namespace chalkbot {

std::string new_id() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  char text[17];
  std::snprintf(text, sizeof text, "%016llx",
                static_cast<unsigned long long>(generator()));  // NOLINT(runtime/int)
  return text;
}

}  // namespace chalkbot
