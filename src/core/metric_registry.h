#pragma once
// Prometheus metrics: a small registry of counters, gauges and histograms on relaxed atomics, and
// their text exposition. Handles are registered once at start-up and kept as references;
// incrementing one is a single atomic add (safe on the media thread), never a lookup.
//
// Thread-safety: register_*() may be called at any time (it takes a lock); the handles they return
// live as long as the registry and are safe from any thread; expose() may run concurrently.
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace chalkbot {

class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bound (the last is +Inf), the count and the sum.
  std::vector<std::uint64_t> cumulative() const;
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1 (+Inf)
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Labels as Prometheus writes them, e.g. {{"code", "200"}}.
using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricRegistry {
 public:
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help,
                       std::vector<double> upper_bounds, const Labels& labels = {});
  // The Prometheus text exposition format (version 0.0.4).
  std::string expose() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Series {
    std::string labels;  // rendered: {a="b",c="d"} or empty
    Counter* counter = nullptr;
    Gauge* gauge = nullptr;
    Histogram* histogram = nullptr;
  };
  struct Family {
    std::string help;
    Type type;
    std::vector<Series> series;
  };
  Family& family(const std::string& name, const std::string& help, Type type);

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
  std::deque<Counter> counters_;
  std::deque<Gauge> gauges_;
  std::deque<std::unique_ptr<Histogram>> histograms_;
};

}  // namespace chalkbot
