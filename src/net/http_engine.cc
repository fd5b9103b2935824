#include "net/http_engine.h"

#include <curl/curl.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <unordered_map>

#include "net/curl_transfer.h"

namespace chalkbot {
namespace {

constexpr Millis kSweep{20};  // how late a cancel, should_abort or stall is noticed
constexpr Millis kIdleWait{10'000};
constexpr std::size_t kSpareEasies = 64;  // easy handles kept for reuse

}  // namespace

// A callback runs with `callback_mutex` held and only while not cancelled, so cancel() - which
// takes the mutex after setting the flag - returns only once no callback runs or can start. The
// mutex is recursive: a callback may cancel its own task.
struct HttpEngine::Task : HttpTask {
  std::recursive_mutex callback_mutex;
  std::atomic<bool> cancelled{false};
  CancelToken token;  // seen by the transfer's should_stop

  void cancel() override {
    cancelled = true;
    token.cancel();
    const std::lock_guard lock(callback_mutex);
  }
  // Runs `callback` unless cancelled; false when it was.
  template <class Callback>
  bool run_guarded(Callback&& callback) {
    const std::lock_guard lock(callback_mutex);
    if (cancelled) return false;
    callback();
    return true;
  }
};

struct HttpEngine::Transfer : Task {
  HttpRequest request;
  BodySink sink;
  HttpDone on_done;
  BodySink guarded_sink;  // what libcurl's body callback calls
  std::unique_ptr<curl_detail::CurlTransfer> curl;
  CURL* easy = nullptr;
};

struct HttpEngine::Timer : Task {
  SteadyClock::time_point due;
  std::function<void()> job;
};

HttpEngine::HttpEngine() {
  curl_detail::global_init();
  multi_ = curl_multi_init();
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "http");
    run();
  });
}

HttpEngine::~HttpEngine() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  if (multi_ != nullptr) curl_multi_wakeup(static_cast<CURLM*>(multi_));
  thread_.join();
  if (multi_ != nullptr) curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

HttpEngine& HttpEngine::shared() {
  static HttpEngine engine;
  return engine;
}

std::shared_ptr<HttpTask> HttpEngine::start(HttpRequest request, BodySink sink,
                                            HttpDone on_done) {
  auto transfer = std::make_shared<Transfer>();
  transfer->request = std::move(request);
  transfer->sink = std::move(sink);
  transfer->on_done = std::move(on_done);
  if (transfer->sink) {
    transfer->guarded_sink = [t = transfer.get()](std::string_view chunk) {
      bool more = false;
      t->run_guarded([&] { more = t->sink(chunk); });
      return more;
    };
  }
  post(transfer);
  return transfer;
}

std::shared_ptr<HttpTask> HttpEngine::after(Millis wait, std::function<void()> job) {
  auto timer = std::make_shared<Timer>();
  timer->due = SteadyClock::now() + wait;
  timer->job = std::move(job);
  post(timer);
  return timer;
}

std::size_t HttpEngine::tasks() const {
  const std::lock_guard lock(mutex_);
  return tasks_;
}

void HttpEngine::post(std::shared_ptr<Task> task) {
  {
    const std::lock_guard lock(mutex_);
    posted_.push_back(std::move(task));
    ++tasks_;
  }
  if (multi_ != nullptr) curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

void HttpEngine::run() {
  auto* multi = static_cast<CURLM*>(multi_);
  std::unordered_map<CURL*, std::shared_ptr<Transfer>> active;
  std::vector<std::shared_ptr<Timer>> timers;  // a min-heap on `due`
  const auto later = [](const auto& a, const auto& b) { return a->due > b->due; };
  std::vector<CURL*> spare;
  std::vector<std::shared_ptr<Task>> taken;

  const auto ended = [&] {
    const std::lock_guard lock(mutex_);
    --tasks_;
  };
  // Ends a transfer: libcurl said it is done (`code`) or we stop it (nullopt).
  const auto finish = [&](CURL* easy, std::optional<CURLcode> code) {
    auto node = active.extract(easy);
    Transfer& t = *node.mapped();
    curl_multi_remove_handle(multi, easy);  // mid-transfer this closes the connection
    HttpResponse response = t.curl->finish(code);
    if (spare.size() < kSpareEasies) {
      spare.push_back(easy);
    } else {
      curl_easy_cleanup(easy);
    }
    if (response.outcome != HttpOutcome::kCancelled) {
      t.run_guarded([&] { t.on_done(std::move(response)); });
    }
    // The callbacks may hold what owns this task: let them go now, not when the task's last
    // handle does.
    HttpDone done;
    BodySink sink;
    {
      const std::lock_guard lock(t.callback_mutex);
      done.swap(t.on_done);
      sink.swap(t.sink);
    }
    ended();
  };

  for (;;) {
    {
      const std::lock_guard lock(mutex_);
      if (stopping_) break;
      taken.swap(posted_);
    }
    for (auto& task : taken) {
      if (auto transfer = std::dynamic_pointer_cast<Transfer>(task)) {
        CURL* easy = nullptr;
        if (!spare.empty()) {
          easy = spare.back();
          spare.pop_back();
          curl_easy_reset(easy);
        } else {
          easy = curl_easy_init();
        }
        transfer->easy = easy;
        transfer->curl = std::make_unique<curl_detail::CurlTransfer>(
            transfer->request, transfer->guarded_sink, transfer->token);
        if (easy == nullptr) {
          HttpResponse response;
          response.error = "libcurl initialisation failed";
          transfer->run_guarded([&] { transfer->on_done(std::move(response)); });
          ended();
          continue;
        }
        transfer->curl->prepare(easy);
        curl_multi_add_handle(multi, easy);
        active.emplace(easy, std::move(transfer));
      } else {
        timers.push_back(std::static_pointer_cast<Timer>(task));
        std::push_heap(timers.begin(), timers.end(), later);
      }
    }
    taken.clear();

    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg == CURLMSG_DONE && active.contains(msg->easy_handle)) {
        finish(msg->easy_handle, msg->data.result);
      }
    }
    std::vector<CURL*> stopped;
    for (auto& [easy, transfer] : active) {
      if (transfer->curl->should_stop()) stopped.push_back(easy);
    }
    for (CURL* easy : stopped) finish(easy, std::nullopt);

    // A cancelled wait leaves at once (a retry wait can be long), not when it would have run.
    const auto gone = std::remove_if(timers.begin(), timers.end(),
                                     [](const auto& timer) { return timer->cancelled.load(); });
    if (gone != timers.end()) {
      for (auto it = gone; it != timers.end(); ++it) ended();
      timers.erase(gone, timers.end());
      std::make_heap(timers.begin(), timers.end(), later);
    }
    const auto now = SteadyClock::now();
    while (!timers.empty() && timers.front()->due <= now) {
      std::pop_heap(timers.begin(), timers.end(), later);
      std::shared_ptr<Timer> timer = std::move(timers.back());
      timers.pop_back();
      timer->run_guarded([&] { timer->job(); });
      std::function<void()> job;
      {
        const std::lock_guard lock(timer->callback_mutex);
        job.swap(timer->job);
      }
      ended();
    }

    Millis wait = active.empty() && timers.empty() ? kIdleWait : kSweep;
    if (!timers.empty()) {
      const auto until = std::chrono::ceil<Millis>(timers.front()->due - SteadyClock::now());
      wait = std::clamp(until, Millis(0), wait);
    }
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(wait.count()), nullptr);
  }

  // Shutting down: every task ends without its callbacks.
  for (auto& [easy, transfer] : active) {
    curl_multi_remove_handle(multi, easy);
    curl_easy_cleanup(easy);
  }
  for (CURL* easy : spare) curl_easy_cleanup(easy);
}

}  // namespace chalkbot
