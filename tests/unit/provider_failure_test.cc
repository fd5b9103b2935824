#include "agent/provider_failure.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace chalkbot {
namespace {

TEST(ProviderFailure, ReportCarriesTheErrorsKind) {
  std::vector<ProviderFailure> seen;
  report_provider_failure([&](const ProviderFailure& f) { seen.push_back(f); }, "call-1", "tts",
                          make_error(ErrorKind::kServerError, "speech request failed: HTTP 503"));
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].call_id, "call-1");
  EXPECT_EQ(seen[0].provider, "tts");
  EXPECT_EQ(seen[0].kind, "server_error");
  EXPECT_EQ(seen[0].cause, "speech request failed: HTTP 503");
  report_provider_failure({}, "call-1", "llm", make_error("no sink: logged only"));
}

// The metric labels dashboards use: every kind a provider failure can have has its label.
TEST(ProviderFailure, EveryKindHasItsMetricLabel) {
  const auto labelled = [](ErrorKind kind) {
    return std::ranges::find(kProviderFailureKinds, to_string(kind)) !=
           kProviderFailureKinds.end();
  };
  for (ErrorKind kind : {ErrorKind::kRateLimited, ErrorKind::kQuota, ErrorKind::kAuth,
                         ErrorKind::kServerError, ErrorKind::kTimeout, ErrorKind::kReset,
                         ErrorKind::kConnect, ErrorKind::kMalformed, ErrorKind::kOther}) {
    EXPECT_TRUE(labelled(kind)) << to_string(kind);
  }
  EXPECT_EQ(to_string(ErrorKind::kRateLimited), "rate_limited");
  EXPECT_EQ(to_string(ErrorKind::kServerError), "server_error");
  EXPECT_EQ(to_string(ErrorKind::kOther), "other");
}

}  // namespace
}  // namespace chalkbot
