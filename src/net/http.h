#pragma once
// A small blocking HTTP client on libcurl for the model providers (chat, transcription, speech).
// A request runs on the caller's thread; the body streams into a callback as it arrives, and a
// CancelToken stops it within ~20 ms (the transfer loop polls at that interval). Each thread keeps
// its own connection cache, so a call's repeated requests reuse one keep-alive/TLS connection.
// Headers are never logged; nothing here writes the Authorization header anywhere.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/cancel.h"
#include "core/result.h"

namespace chalkbot {

struct HttpHeader {
  std::string name;
  std::string value;
};

// One part of a multipart/form-data body; a file part when `filename` is set.
struct MultipartPart {
  std::string name;
  std::string data;
  std::string filename;
  std::string content_type;
};

struct HttpRequest {
  std::string method = "GET";  // GET, POST, or another verb (PUT, PATCH: `body` sent too)
  std::string url;
  std::vector<HttpHeader> headers;
  std::string body;                  // request body (ignored when `parts` is not empty)
  std::vector<MultipartPart> parts;  // non-empty: multipart/form-data POST
  int connect_timeout_ms = 0;        // 0: curl's default (300 s)
  int total_timeout_ms = 0;          // whole request; 0: no limit
  // Longest wait for the next bytes from the server (response headers or body) once the request
  // is sent: a server that hangs mid-stream fails fast without a limit on long streams. 0: none.
  int stall_timeout_ms = 0;
  // Polled about every 20 ms on the caller's thread; return true to abandon the request
  // (outcome kAborted). Used for deadlines the HTTP layer cannot know (first chat token).
  std::function<bool()> should_abort;
  // AWS Signature Version 4, done by libcurl: e.g. "aws:amz:eu-west-1:dynamodb" with the access
  // key id and secret as user and password (empty: not signed). Never logged.
  std::string aws_sigv4;
  std::string username;
  std::string password;
  // Called once with a 2xx response's headers before its body reaches the sink; return false to
  // refuse the body (outcome kStopped), e.g. a Content-Type that is not what was asked for.
  std::function<bool(const std::vector<HttpHeader>& headers)> accept_headers;
};

// Builds a JSON POST with an optional bearer token.
HttpRequest json_post(std::string url, std::string json_body, const std::string& bearer_token);

enum class HttpOutcome {
  kComplete,       // the whole response arrived
  kStopped,        // the body sink returned false
  kCancelled,      // the cancel token was set
  kAborted,        // should_abort returned true
  kTimedOut,       // total_timeout_ms or stall_timeout_ms passed
  kConnectFailed,  // resolve/connect failed or timed out: nothing was sent
  kFailed,         // any other transport error (reset, protocol error ...)
};

struct HttpResponse {
  HttpOutcome outcome = HttpOutcome::kFailed;
  int status = 0;                   // 0 when no response line arrived
  std::vector<HttpHeader> headers;  // of the final response
  // The body when no sink was given, or when status is not 2xx (error bodies, capped at 64 KiB,
  // are always kept here rather than streamed, so callers can read the server's error message).
  std::string body;
  std::string error;  // transport error text for kTimedOut / kConnectFailed / kFailed
  // What kind of transport failure ended it (kOther for kComplete and kStopped).
  ErrorKind transport_kind = ErrorKind::kOther;

  // Case-insensitive lookup of a response header.
  std::optional<std::string> header(std::string_view name) const;
  bool success() const {
    return outcome == HttpOutcome::kComplete && status >= 200 && status < 300;
  }
};

// Receives 2xx body bytes as they arrive, in any split. Return false to stop (kStopped).
using BodySink = std::function<bool(std::string_view chunk)>;

// Performs the request on this thread. Never throws; the outcome says how it ended. Pass an
// empty sink to collect the body in HttpResponse::body.
HttpResponse http_perform(const HttpRequest& request, const BodySink& sink,
                          const CancelToken& cancel);

// Convenience for the plain cases: collects the body; any outcome but a complete 2xx response
// is an error naming the URL's path, the status and the body's start.
Result<HttpResponse> http_fetch(const HttpRequest& request, const CancelToken& cancel);

// A Retry-After value (RFC 9110: delta-seconds or an HTTP-date) as a wait from `now`. Fractional
// seconds are accepted too. nullopt when unparseable; a date in the past gives 0.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

// Short text for an outcome, for messages.
std::string_view to_string(HttpOutcome outcome);

// Why a request did not succeed, for messages: "HTTP 503: <the server's error message>" (from an
// OpenAI-style {"error": {"message"}} body, else the body's start) or the transport outcome.
std::string describe_failure(const HttpResponse& response);

// The wait the server asked for (retry-after-ms, then Retry-After), when it did.
std::optional<std::chrono::milliseconds> retry_after_of(const HttpResponse& response);

// The kind of failure a libcurl result code (CURLcode) describes.
ErrorKind curl_failure_kind(int curl_code);

// The kind of failure an HTTP error status describes. An OpenAI-style error body with code or
// type "insufficient_quota" is quota (sent with 429, like a rate limit, but waiting cannot help).
// 408 is a timeout; 409 (a conflict on the server's side, "try again") counts as server_error.
ErrorKind status_failure_kind(int status, std::string_view body);

// The kind of failure a response that did not succeed describes: its status when the server
// answered with an error status, otherwise how the transfer ended.
ErrorKind failure_kind(const HttpResponse& response);

// An Error saying `message`, with the response's failure kind and the server's Retry-After.
Error http_error(const HttpResponse& response, std::string message);

// `text` with `secret` and anything shaped like an OpenAI key replaced: servers echo keys back in
// error messages (a wrong key in a 401), and error messages end up in logs.
std::string redact_secrets(std::string text, const std::string& secret);

}  // namespace chalkbot
