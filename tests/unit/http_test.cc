#include <gtest/gtest.h>

#include "net/http.h"

namespace chalkbot {
namespace {

using std::chrono::milliseconds;

TEST(RetryAfter, DeltaSecondsIntegerAndFractional) {
  const auto now = std::chrono::system_clock::now();
  EXPECT_EQ(parse_retry_after("1", now), milliseconds(1000));
  EXPECT_EQ(parse_retry_after(" 120 ", now), milliseconds(120000));
  EXPECT_EQ(parse_retry_after("0.2", now), milliseconds(200));
  EXPECT_FALSE(parse_retry_after("", now));
  EXPECT_FALSE(parse_retry_after("1s", now));
  EXPECT_FALSE(parse_retry_after("soon", now));
}

TEST(RetryAfter, HttpDate) {
  // Sun, 06 Nov 1994 08:49:37 GMT is 784111777 seconds after the epoch (RFC 9110's example).
  const auto now = std::chrono::system_clock::from_time_t(784111777 - 30);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), milliseconds(30000));
  const auto later = std::chrono::system_clock::from_time_t(784111777 + 30);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", later), milliseconds(0));
}

TEST(Http, ConnectionRefusedIsConnectFailed) {
  HttpRequest request;
  request.url = "http://127.0.0.1:1/";
  request.connect_timeout_ms = 1000;
  const auto response = http_perform(request, BodySink{}, CancelToken{});
  EXPECT_EQ(response.outcome, HttpOutcome::kConnectFailed);
  EXPECT_FALSE(response.error.empty());
}

TEST(Http, HeaderLookupIgnoresCase) {
  HttpResponse response;
  response.headers = {{"Retry-After", "3"}};
  EXPECT_EQ(response.header("retry-after"), "3");
  EXPECT_FALSE(response.header("content-type"));
}

}  // namespace
}  // namespace chalkbot
