#pragma once
#include <string>

namespace chalkbot {

// A new random identifier for a call or session: 16 lower-case hex digits.
std::string new_id();

}  // namespace chalkbot
