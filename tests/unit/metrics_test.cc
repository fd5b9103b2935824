#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "metrics/chalkbot_metrics.h"

namespace chalkbot {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

TEST(MetricsTest, ExposesCountersGaugesAndHistogramsInPrometheusText) {
  MetricRegistry registry;
  Counter& requests = registry.counter("demo_requests_total", "requests", {{"code", "200"}});
  Counter& errors = registry.counter("demo_requests_total", "requests", {{"code", "500"}});
  Gauge& active = registry.gauge("demo_active", "in progress");
  Histogram& latency = registry.histogram("demo_seconds", "latency", {0.1, 0.5, 1});
  requests.inc(3);
  errors.inc();
  active.add(2);
  active.add(-1);
  for (double v : {0.05, 0.1, 0.3, 2.0}) latency.observe(v);

  const std::string text = registry.expose();
  EXPECT_TRUE(has_line(text, "# HELP demo_requests_total requests")) << text;
  EXPECT_TRUE(has_line(text, "# TYPE demo_requests_total counter")) << text;
  EXPECT_TRUE(has_line(text, "demo_requests_total{code=\"200\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "demo_requests_total{code=\"500\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "# TYPE demo_active gauge")) << text;
  EXPECT_TRUE(has_line(text, "demo_active 1")) << text;
  EXPECT_TRUE(has_line(text, "# TYPE demo_seconds histogram")) << text;
  // Buckets are cumulative and "le" is an upper bound (0.1 falls in le="0.1").
  EXPECT_TRUE(has_line(text, "demo_seconds_bucket{le=\"0.1\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "demo_seconds_bucket{le=\"0.5\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "demo_seconds_bucket{le=\"1\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "demo_seconds_bucket{le=\"+Inf\"} 4")) << text;
  EXPECT_TRUE(has_line(text, "demo_seconds_sum 2.45")) << text;
  EXPECT_TRUE(has_line(text, "demo_seconds_count 4")) << text;
  // One HELP/TYPE per family, however many series it has.
  EXPECT_EQ(text.find("# TYPE demo_requests_total"), text.rfind("# TYPE demo_requests_total"));
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  MetricRegistry registry;
  registry.counter("demo_total", "x", {{"reason", "a \"quoted\" \\ value"}}).inc();
  EXPECT_TRUE(has_line(registry.expose(), R"(demo_total{reason="a \"quoted\" \\ value"} 1)"));
}

TEST(MetricsTest, CountsFromManyThreadsAddUp) {
  MetricRegistry registry;
  Counter& counter = registry.counter("demo_total", "x");
  Histogram& histogram = registry.histogram("demo_seconds", "x", {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter.inc();
        histogram.observe(0.5);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.value(), 40000U);
  EXPECT_EQ(histogram.count(), 40000U);
  EXPECT_DOUBLE_EQ(histogram.sum(), 20000.0);
}

TEST(MetricsTest, ChalkbotMetricsResolveLabelsToFixedSeries) {
  MetricRegistry registry;
  ChalkbotMetrics m(registry);
  m.sip_response(200).inc();
  m.sip_response(200).inc();
  m.sip_response(299).inc();  // no series of its own
  m.sip_response(-5).inc();
  m.call_ended("caller_goodbye").inc();
  m.call_ended("made-up reason").inc();
  m.provider_error(Provider::kLlm, "server_error").inc();
  m.provider_error(Provider::kTts, "no such kind").inc();

  StageTimes t;
  t.speech_end = 1000;
  t.endpoint = 1500;
  t.asr_done = 1700;
  t.llm_first_token = 1750;
  t.first_sentence = 1800;
  t.tts_first_audio = 1810;
  t.first_rtp_out = 1830;
  m.observe_turn(t);
  StageTimes partial;  // a turn cut short: only the stages with both ends count
  partial.speech_end = 1000;
  partial.endpoint = 1600;
  m.observe_turn(partial);

  const std::string text = registry.expose();
  EXPECT_TRUE(has_line(text, "chalkbot_sip_responses_total{code=\"200\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "chalkbot_sip_responses_total{code=\"other\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "chalkbot_calls_ended_total{reason=\"caller_goodbye\"} 1"));
  EXPECT_TRUE(has_line(text, "chalkbot_calls_ended_total{reason=\"other\"} 1"));
  EXPECT_TRUE(
      has_line(text, "chalkbot_provider_errors_total{provider=\"llm\",kind=\"server_error\"} 1"));
  EXPECT_TRUE(has_line(text, "chalkbot_provider_errors_total{provider=\"tts\",kind=\"other\"} 1"));
  EXPECT_TRUE(has_line(text, "chalkbot_provider_errors_total{provider=\"asr\",kind=\"quota\"} 0"));
  EXPECT_TRUE(has_line(text, "chalkbot_turns_total 2"));
  EXPECT_EQ(m.endpoint_seconds.count(), 2U);
  EXPECT_DOUBLE_EQ(m.endpoint_seconds.sum(), 1.1);
  EXPECT_EQ(m.response_latency_seconds.count(), 1U);
  EXPECT_DOUBLE_EQ(m.response_latency_seconds.sum(), 0.83);
  EXPECT_EQ(m.asr_seconds.count(), 1U);
}

}  // namespace
}  // namespace chalkbot
