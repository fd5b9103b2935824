#pragma once
// An executor whose jobs wait until their owner runs them, on its own thread: a replay (or a
// unit test) decides when a decode or a synthesis "finishes", so no result races its clock.
#include <cstddef>
#include <deque>
#include <functional>

#include "core/work_pool.h"

namespace chalkbot {

class QueuedExecutor final : public Executor {
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

}  // namespace chalkbot
