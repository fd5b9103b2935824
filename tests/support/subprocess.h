#pragma once
// A child process for tests (sipp and other real peers). Output goes to files in `dir`.
#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

namespace chalkbot::testing {

class Subprocess {
 public:
  // Starts argv[0] (searched in PATH) in `dir`; stdout/stderr to dir/<name>.out/.err.
  Subprocess(std::vector<std::string> argv, const std::string& dir, const std::string& name);
  ~Subprocess();  // kills and reaps a child still running
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  bool started() const { return pid_ > 0; }
  // Exit status, or -1 if it did not exit in time (it is then killed), -2 if killed by a signal.
  int wait(std::chrono::milliseconds timeout);
  std::string output() const;  // stdout + stderr so far

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string out_path_;
  std::string err_path_;
};

// A port that was free for UDP and TCP on 127.0.0.1 a moment ago.
int free_port();
// Whole file, or '' if it cannot be read.
std::string read_file(const std::string& path);
// Every file in `dir` whose name contains `fragment`, concatenated.
std::string read_files_matching(const std::string& dir, const std::string& fragment);

}  // namespace chalkbot::testing
