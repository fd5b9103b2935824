#include "support/standin.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "core/cancel.h"
#include "net/http.h"
#include "support/test_support.h"

namespace chalkbot::testing {
namespace {

std::string http_or_throw(const HttpRequest& request) {
  auto response = http_fetch(request, CancelToken{});
  if (!response) throw std::runtime_error("stand-in: " + response.error().message);
  return response->body;
}

}  // namespace

Standin::Standin(const std::vector<std::string>& args) {
  std::vector<std::string> argv_strings = {"python3", tests_dir() + "/standin/openai_standin.py",
                                           "--port", "0"};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("stand-in: pipe failed");
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("stand-in: fork failed");
  if (pid_ == 0) {
    // Child: only async-signal-safe calls until exec. Dies with the test process.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(fds[1], STDOUT_FILENO);
    execvp("python3", argv.data());
    _exit(127);
  }
  close(fds[1]);

  // Read "LISTENING <port>\n" with a 10 s limit.
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (line.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd pfd{fds[0], POLLIN, 0};
    if (left.count() <= 0 || poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[128];
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  if (line.rfind("LISTENING ", 0) == 0) port_ = std::atoi(line.c_str() + 10);
  if (port_ <= 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    throw std::runtime_error("stand-in did not start (output: '" + line + "')");
  }
}

Standin::~Standin() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

std::string Standin::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/v1";
}

void Standin::control(const nlohmann::json& command) const {
  http_or_throw(json_post("http://127.0.0.1:" + std::to_string(port_) + "/control",
                          command.dump(), ""));
}

void Standin::push_faults(const std::vector<std::string>& faults) const {
  control({{"faults", faults}});
}

nlohmann::json Standin::requests() const {
  HttpRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(port_) + "/requests";
  return nlohmann::json::parse(http_or_throw(request));
}

}  // namespace chalkbot::testing
