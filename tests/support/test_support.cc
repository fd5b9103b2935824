#include "support/test_support.h"

#include <cstdlib>
#include <stdexcept>
#include <vector>

namespace chalkbot::testing {

std::string make_temp_dir() {
  std::string pattern = "/tmp/chalkbot-test-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return buffer.data();
}

}  // namespace chalkbot::testing
