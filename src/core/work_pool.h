#pragma once
// Where slow work runs off a call's thread: a fixed set of threads taking jobs from one queue
// (ASR decodes: a call posts a decode and goes on hearing frames), and a serial queue that runs
// one owner's jobs in order, one at a time, on such a pool (a recogniser stream is not
// thread-safe). No thread is created per job.
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace chalkbot {

// The cores this process may use (2 when the system cannot tell): the size of the fixed pools.
int core_count();

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs `job` soon on another thread; never blocks, never runs it inline.
  virtual void post(std::function<void()> job) = 0;
};

class WorkPool final : public Executor {
 public:
  // `name` names the threads (as ps/top show them: "<name>-<n>").
  WorkPool(int threads, const std::string& name);
  ~WorkPool() override;  // runs what is queued, then joins
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  void post(std::function<void()> job) override;
  std::size_t threads() const { return threads_.size(); }

 private:
  void work();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Jobs posted here run in order, never two at once, on `executor`'s threads. Copies share one
// queue; the queue lives until its last job ran.
class SerialQueue {
 public:
  explicit SerialQueue(Executor& executor);
  void post(std::function<void()> job);

 private:
  struct State;
  static void drain(const std::shared_ptr<State>& state);
  std::shared_ptr<State> state_;
};

}  // namespace chalkbot
