#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "core/settings.h"

namespace chalkbot::testing {

// Directory of the test sources (fixtures, the stand-in server).
inline std::string tests_dir() { return CHALKBOT_TEST_DIR; }
// Real human speech shipped by Debian's pocketsphinx-testdata.
inline std::string speech_data_dir() { return "/usr/share/pocketsphinx/test/data"; }
// One line of a Sphinx transcription file: "words words (utterance-id)".
struct Transcribed {
  std::string id;         // the recording's file name without .wav
  std::string reference;  // what is said
};
// Every line of a transcription file such as speech_data_dir() + "/librivox/transcription".
std::vector<Transcribed> read_transcription(const std::string& path);

// A fresh empty directory for one test's files.
std::string make_temp_dir();

// How many threads this process has now (Linux: /proc/self/task).
std::size_t threads_in_process();

// Every setting at its declared default, the process environment ignored.
Settings default_settings();

}  // namespace chalkbot::testing
