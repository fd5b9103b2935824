#pragma once
// Every HTTP stream of the process that must not hold a thread while it waits (the model's
// answers, prefetches) runs on one thread: a libcurl multi handle drives all transfers at once,
// and timers (the waits between retries) run on the same thread. No thread is created per
// request. Callbacks run on the engine's thread, one at a time: they must be short and never
// block (hand the work on). Connections are kept alive in the multi handle's cache and reused
// by every later request to the same host.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "net/http.h"

namespace chalkbot {

// A request or timer started on the engine.
class HttpTask {
 public:
  virtual ~HttpTask() = default;
  // Any thread, the engine's own callbacks included; idempotent. When it returns, none of the
  // task's callbacks is running (on another thread) or will run again.
  virtual void cancel() = 0;
};

using HttpDone = std::function<void(HttpResponse response)>;

class HttpEngine {
 public:
  HttpEngine();
  ~HttpEngine();  // ends every task without its callbacks, then stops the thread
  HttpEngine(const HttpEngine&) = delete;
  HttpEngine& operator=(const HttpEngine&) = delete;

  // The process's engine, started on first use.
  static HttpEngine& shared();

  // Starts `request`. `sink` gets the 2xx body as it arrives (empty: the body is collected in
  // the response), `on_done` the response once it ended by itself: complete, stopped by the
  // sink, aborted, timed out or failed (never kCancelled: a cancelled task calls nothing).
  std::shared_ptr<HttpTask> start(HttpRequest request, BodySink sink, HttpDone on_done);
  // Runs `job` on the engine's thread once `wait` has passed.
  std::shared_ptr<HttpTask> after(Millis wait, std::function<void()> job);

  // Transfers in flight and timers waiting: for tests and metrics.
  std::size_t tasks() const;

 private:
  struct Task;
  struct Transfer;
  struct Timer;
  void post(std::shared_ptr<Task> task);
  void run();

  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<Task>> posted_;  // started, not yet taken by the engine thread
  std::size_t tasks_ = 0;                      // posted + in flight
  bool stopping_ = false;
  void* multi_ = nullptr;  // CURLM*, owned by the engine thread after construction
  std::thread thread_;
};

}  // namespace chalkbot
