#pragma once
// A compute pool for unit tests: posted jobs wait until the test runs them (on its own thread),
// so a test decides exactly when a decode or a synthesis "finishes".
#include <deque>
#include <functional>

#include "core/work_pool.h"

namespace chalkbot::testing {

class InlineExecutor final : public Executor {
 public:
  void post(std::function<void()> job) override { jobs_.push_back(std::move(job)); }
  // Runs what was posted (and what those jobs post), in order; false when nothing was.
  bool run_all() {
    bool ran = false;
    while (!jobs_.empty()) {
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      job();
      ran = true;
    }
    return ran;
  }
  std::size_t waiting() const { return jobs_.size(); }

 private:
  std::deque<std::function<void()>> jobs_;
};

}  // namespace chalkbot::testing
