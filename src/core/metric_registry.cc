#include "core/metric_registry.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace chalkbot {
namespace {

std::string render_labels(const Labels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ',';
    out += labels[i].first + "=\"";
    for (char c : labels[i].second) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// `labels` ({a="b"} or empty) with one more label appended (for histogram buckets).
std::string with_label(const std::string& labels, const std::string& extra) {
  if (labels.empty()) return "{" + extra + "}";
  return labels.substr(0, labels.size() - 1) + "," + extra + "}";
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::ostringstream out;
  out.precision(10);
  out << v;
  return out.str();
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  std::sort(bounds_.begin(), bounds_.end());
}

void Histogram::observe(double value) {
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<std::uint64_t> Histogram::cumulative() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    out[i] = total;
  }
  return out;
}

MetricRegistry::Family& MetricRegistry::family(const std::string& name, const std::string& help,
                                               Type type) {
  auto [it, inserted] = families_.try_emplace(name, Family{help, type, {}});
  return it->second;
}

Counter& MetricRegistry::counter(const std::string& name, const std::string& help,
                                 const Labels& labels) {
  std::lock_guard lock(mutex_);
  Counter& c = counters_.emplace_back();
  family(name, help, Type::kCounter)
      .series.push_back({render_labels(labels), &c, nullptr, nullptr});
  return c;
}

Gauge& MetricRegistry::gauge(const std::string& name, const std::string& help,
                             const Labels& labels) {
  std::lock_guard lock(mutex_);
  Gauge& g = gauges_.emplace_back();
  family(name, help, Type::kGauge).series.push_back({render_labels(labels), nullptr, &g, nullptr});
  return g;
}

Histogram& MetricRegistry::histogram(const std::string& name, const std::string& help,
                                     std::vector<double> upper_bounds, const Labels& labels) {
  std::lock_guard lock(mutex_);
  Histogram& h = *histograms_.emplace_back(std::make_unique<Histogram>(std::move(upper_bounds)));
  family(name, help, Type::kHistogram)
      .series.push_back({render_labels(labels), nullptr, nullptr, &h});
  return h;
}

std::string MetricRegistry::expose() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, f] : families_) {
    const char* type = f.type == Type::kCounter ? "counter"
                       : f.type == Type::kGauge ? "gauge"
                                                : "histogram";
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + type + "\n";
    for (const Series& s : f.series) {
      if (s.counter) out += name + s.labels + " " + std::to_string(s.counter->value()) + "\n";
      if (s.gauge) out += name + s.labels + " " + number(s.gauge->value()) + "\n";
      if (s.histogram) {
        const auto counts = s.histogram->cumulative();
        const auto& bounds = s.histogram->bounds();
        for (std::size_t i = 0; i < counts.size(); ++i) {
          const double le = i < bounds.size() ? bounds[i] : INFINITY;
          out += name + "_bucket" + with_label(s.labels, "le=\"" + number(le) + "\"") + " " +
                 std::to_string(counts[i]) + "\n";
        }
        out += name + "_sum" + s.labels + " " + number(s.histogram->sum()) + "\n";
        out += name + "_count" + s.labels + " " + std::to_string(counts.back()) + "\n";
      }
    }
  }
  return out;
}

}  // namespace chalkbot
