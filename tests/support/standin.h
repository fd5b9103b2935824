#pragma once
// Test fixture: runs tests/standin/openai_standin.py (the local OpenAI-compatible stand-in) as a
// child process on a free loopback port, and stops it when destroyed.
//
//   chalkbot::testing::Standin standin({"--ttft-ms", "50"});
//   settings.base_url = standin.base_url();          // http://127.0.0.1:PORT/v1
//   standin.push_faults({"429", "500"});             // applied to the next requests, one each
//   nlohmann::json seen = standin.requests();        // [{path, body | fields/files/wav, ...}]
//
// Construction throws std::runtime_error when the stand-in does not come up within 10 s; the
// other calls throw on failure too (test code: a throw fails the test with its message).
#include <nlohmann/json.hpp>

#include <string>
#include <sys/types.h>
#include <vector>

namespace chalkbot::testing {

class Standin {
 public:
  // `args` go to the script: --script FILE, --ttft-ms N, --tokens-per-sec N, --transcript TEXT,
  // --fault KIND, --retry-after SECONDS, --speech-chunk-bytes N, --speech-chunk-ms N.
  explicit Standin(const std::vector<std::string>& args = {});
  ~Standin();
  Standin(const Standin&) = delete;
  Standin& operator=(const Standin&) = delete;

  int port() const { return port_; }
  std::string base_url() const;  // "http://127.0.0.1:PORT/v1"
  // Queues faults (see the script's doc string for the kinds), applied one per request.
  void push_faults(const std::vector<std::string>& faults) const;
  // Any /control command, e.g. {"ttft_ms": 100, "tokens_per_sec": 20, "clear_requests": true}.
  void control(const nlohmann::json& command) const;
  // Every request received so far, oldest first.
  nlohmann::json requests() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace chalkbot::testing
