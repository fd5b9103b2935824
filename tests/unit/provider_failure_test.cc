#include "agent/provider_failure.h"

#include <gtest/gtest.h>

namespace chalkbot {
namespace {

// The messages our LLM, ASR and TTS clients produce for each fault mode of the stand-in.
TEST(ProviderFailureKind, NamesEachFaultMode) {
  const std::pair<const char*, const char*> cases[] = {
      {"chat completion failed: HTTP 429 (rate_limit_exceeded): Rate limit reached (after 2 "
       "attempts); the server asked to retry after 1000 ms, beyond the remaining retry budget",
       "rate_limited"},
      {"chat completion failed: HTTP 429 (insufficient_quota): You exceeded your current quota",
       "quota"},
      {"chat completion failed: HTTP 503: The server had an error (after 3 attempts)",
       "server_error"},
      {"chat completion failed: HTTP 401 (invalid_api_key): Incorrect API key provided: "
       "sk-[redacted].",
       "auth"},
      {"chat completion: no token within 1500 ms (first-token timeout 1500 ms, retry budget "
       "1500 ms)",
       "timeout"},
      {"chat completion: no data from the server for 1500 ms (llm.stall_timeout_ms)", "timeout"},
      {"chat stream broke before [DONE]: transfer closed with outstanding read data remaining",
       "reset"},
      {"malformed event JSON in the chat stream: {\"choices\"", "malformed"},
      {"chat completion: cannot connect to http://127.0.0.1:1/v1/chat/completions: refused",
       "connect"},
      {"transcription failed: timed out (Operation timed out after 2000 milliseconds)", "timeout"},
      {"transcription failed: transfer failed (Empty reply from server) (after 2 attempts)",
       "reset"},
      {"transcription failed: malformed reply (no \"text\"): {\"text\": \"hello", "malformed"},
      {"speech request failed: malformed reply: not audio (text/html)", "malformed"},
      {"speech request failed: HTTP 500: The server had an error", "server_error"},
      {"something new", "other"},
  };
  for (const auto& [message, kind] : cases) {
    EXPECT_EQ(provider_failure_kind(message), kind) << message;
  }
}

TEST(ProviderFailure, ReportReachesTheSink) {
  std::vector<ProviderFailure> seen;
  report_provider_failure([&](const ProviderFailure& f) { seen.push_back(f); }, "call-1", "tts",
                          "speech request failed: HTTP 503: busy");
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].call_id, "call-1");
  EXPECT_EQ(seen[0].provider, "tts");
  EXPECT_EQ(seen[0].kind, "server_error");
  report_provider_failure({}, "call-1", "llm", "no sink: logged only");
}

}  // namespace
}  // namespace chalkbot
