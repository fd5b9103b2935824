#pragma once
// Prometheus metrics: a small registry of counters, gauges and histograms on relaxed atomics, and
// the set of metrics Chalkbot keeps. Handles are registered once at start-up and kept as
// references; incrementing one is a single atomic add (safe on the media thread), never a lookup.
//
// Thread-safety: register_*() may be called at any time (it takes a lock); the handles they return
// live as long as the registry and are safe from any thread; expose() may run concurrently.
#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store/conversation_store.h"

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

enum class Provider { kAsr, kLlm, kTts };
inline constexpr std::size_t kProviderCount = 3;
const char* to_string(Provider provider);

// Everything Chalkbot counts, registered once in one registry.
class ChalkbotMetrics {
 public:
  explicit ChalkbotMetrics(MetricRegistry& registry);

  MetricRegistry& registry;
  Gauge& calls_active;
  Counter& calls_started;
  Counter& turns;
  // Per-stage latency of each answered turn (seconds): speech end -> endpoint, endpoint -> ASR
  // done, ASR done -> first LLM token, first sentence -> first TTS audio, and the whole response
  // (speech end -> first RTP packet of the answer).
  Histogram& endpoint_seconds;
  Histogram& asr_seconds;
  Histogram& llm_first_token_seconds;
  Histogram& tts_first_audio_seconds;
  Histogram& response_latency_seconds;
  Histogram& store_write_seconds;
  Gauge& store_writable;        // 0 while writes fail (they are kept and retried)
  Gauge& store_pending_writes;  // accepted, not stored yet
  Counter& store_dropped_writes;   // refused: too many pending
  Counter& store_rejected_writes;  // refused by the backend, set aside in the rejected file
  Counter& transfers_succeeded;    // the new party answered; the bot hung up
  Counter& transfers_failed;       // refused, the new call failed, or no outcome in time
  Counter& rtp_packets_received;
  Counter& rtp_packets_sent;
  Counter& rtp_packets_lost;  // frames concealed for packets that never came
  Counter& rtp_packets_late;
  Histogram& rtp_jitter_buffer_seconds;  // each call's jitter-buffer delay at its end
  Gauge& heap_in_use_bytes;  // sampled by the housekeeping loop: what a leak would grow

  // The end reason of a call; reasons not known at start-up are counted as "other".
  Counter& call_ended(std::string_view reason);
  // A SIP response we sent; codes without a series of their own are counted as "other".
  Counter& sip_response(int code);
  // kind: one of kProviderFailureKinds (agent/provider_failure.h); anything else counts as other.
  Counter& provider_error(Provider provider, std::string_view kind);
  // An answered turn: counts it and observes each stage it has both ends of.
  void observe_turn(const StageTimes& times);
  // The store's health, sampled by the server's housekeeping loop.
  void observe_store(const StoreHealth& health);

 private:
  std::map<std::string, Counter*, std::less<>> ended_by_reason_;
  Counter* ended_other_;
  std::array<Counter*, 700> sip_by_code_{};
  Counter* sip_other_;
  std::array<std::map<std::string, Counter*, std::less<>>, kProviderCount> provider_errors_;
};

// The process's metrics (registered on first use).
ChalkbotMetrics& metrics();

// Counts chalkbot_provider_errors_total{provider,kind} (any thread, lock-free). The server calls
// it for each failure report_provider_failure() hands on: one the caller noticed (after the
// client's own retries), never a cancelled request.
void count_provider_error(Provider provider, std::string_view kind);

}  // namespace chalkbot
