#include <curl/curl.h>
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
  EXPECT_EQ(failure_kind(response), ErrorKind::kConnect);
  EXPECT_FALSE(response.error.empty());
}

TEST(FailureKind, FromTheStatus) {
  EXPECT_EQ(status_failure_kind(429, ""), ErrorKind::kRateLimited);
  EXPECT_EQ(status_failure_kind(429, R"({"error":{"code":"rate_limit_exceeded"}})"),
            ErrorKind::kRateLimited);
  EXPECT_EQ(status_failure_kind(401, ""), ErrorKind::kAuth);
  EXPECT_EQ(status_failure_kind(403, "<html>Forbidden</html>"), ErrorKind::kAuth);
  EXPECT_EQ(status_failure_kind(408, ""), ErrorKind::kTimeout);
  EXPECT_EQ(status_failure_kind(409, ""), ErrorKind::kServerError);
  EXPECT_EQ(status_failure_kind(500, ""), ErrorKind::kServerError);
  EXPECT_EQ(status_failure_kind(503, "busy"), ErrorKind::kServerError);
  EXPECT_EQ(status_failure_kind(400, ""), ErrorKind::kOther);
  EXPECT_EQ(status_failure_kind(404, ""), ErrorKind::kOther);
}

TEST(FailureKind, InsufficientQuotaIsQuotaNotARateLimit) {
  EXPECT_EQ(status_failure_kind(429, R"({"error":{"message":"You exceeded your current quota",
                                         "type":"insufficient_quota","code":"insufficient_quota"}})"),
            ErrorKind::kQuota);
  EXPECT_EQ(status_failure_kind(429, R"({"error":{"type":"insufficient_quota"}})"),
            ErrorKind::kQuota);
  EXPECT_EQ(status_failure_kind(403, R"({"error":{"code":"insufficient_quota"}})"),
            ErrorKind::kQuota);
  // Only the error's code or type count, not a message that mentions it.
  EXPECT_EQ(status_failure_kind(429, R"({"error":{"message":"insufficient_quota?"}})"),
            ErrorKind::kRateLimited);
}

TEST(FailureKind, FromTheCurlCode) {
  EXPECT_EQ(curl_failure_kind(CURLE_COULDNT_CONNECT), ErrorKind::kConnect);
  EXPECT_EQ(curl_failure_kind(CURLE_COULDNT_RESOLVE_HOST), ErrorKind::kConnect);
  EXPECT_EQ(curl_failure_kind(CURLE_SSL_CONNECT_ERROR), ErrorKind::kConnect);
  EXPECT_EQ(curl_failure_kind(CURLE_OPERATION_TIMEDOUT), ErrorKind::kTimeout);
  EXPECT_EQ(curl_failure_kind(CURLE_PARTIAL_FILE), ErrorKind::kReset);
  EXPECT_EQ(curl_failure_kind(CURLE_GOT_NOTHING), ErrorKind::kReset);
  EXPECT_EQ(curl_failure_kind(CURLE_RECV_ERROR), ErrorKind::kReset);
  EXPECT_EQ(curl_failure_kind(CURLE_SEND_ERROR), ErrorKind::kReset);
  EXPECT_EQ(curl_failure_kind(CURLE_WEIRD_SERVER_REPLY), ErrorKind::kMalformed);
  EXPECT_EQ(curl_failure_kind(CURLE_URL_MALFORMAT), ErrorKind::kOther);
}

TEST(FailureKind, AnErrorStatusOutweighsHowItsBodyEnded) {
  HttpResponse response;
  response.outcome = HttpOutcome::kFailed;
  response.transport_kind = ErrorKind::kReset;
  EXPECT_EQ(failure_kind(response), ErrorKind::kReset);
  response.status = 502;
  EXPECT_EQ(failure_kind(response), ErrorKind::kServerError);
}

TEST(FailureKind, TheErrorCarriesTheServersRetryAfter) {
  HttpResponse response;
  response.outcome = HttpOutcome::kComplete;
  response.status = 429;
  response.headers = {{"Retry-After", "2"}};
  const Error error = http_error(response, "chat completion failed: HTTP 429");
  EXPECT_EQ(error.kind, ErrorKind::kRateLimited);
  EXPECT_EQ(error.message, "chat completion failed: HTTP 429");
  EXPECT_EQ(error.retry_after, milliseconds(2000));
  response.headers = {{"retry-after-ms", "150"}};
  EXPECT_EQ(http_error(response, "").retry_after, milliseconds(150));
  response.headers.clear();
  EXPECT_FALSE(http_error(response, "").retry_after);
}

TEST(Http, HeaderLookupIgnoresCase) {
  HttpResponse response;
  response.headers = {{"Retry-After", "3"}};
  EXPECT_EQ(response.header("retry-after"), "3");
  EXPECT_FALSE(response.header("content-type"));
}

}  // namespace
}  // namespace chalkbot
