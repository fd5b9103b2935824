#pragma once
#include <string>

namespace chalkbot::testing {

// Directory of the test sources (fixtures, the stand-in server).
inline std::string tests_dir() { return CHALKBOT_TEST_DIR; }
// Real human speech shipped by Debian's pocketsphinx-testdata.
inline std::string speech_data_dir() { return "/usr/share/pocketsphinx/test/data"; }
// A fresh empty directory for one test's files.
std::string make_temp_dir();

}  // namespace chalkbot::testing
