#include "net/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>
#include <regex>

#include <nlohmann/json.hpp>

#include "core/text.h"
#include "net/curl_transfer.h"

namespace chalkbot {
namespace {

constexpr int kPollMs = 20;  // how late a cancel or should_abort may be noticed

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// One multi + easy handle per thread: the multi's connection cache keeps connections alive
// between this thread's requests. A nested request on the same thread gets temporary handles.
struct Handles {
  CURLM* multi = nullptr;
  CURL* easy = nullptr;
  bool busy = false;

  bool ensure() {
    if (multi == nullptr) multi = curl_multi_init();
    if (easy == nullptr) easy = curl_easy_init();
    return multi != nullptr && easy != nullptr;
  }
  void release() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    if (multi != nullptr) curl_multi_cleanup(multi);
    easy = nullptr;
    multi = nullptr;
  }
  ~Handles() { release(); }
};

class Lease {
 public:
  Lease() {
    thread_local Handles cached;
    if (!cached.busy) {
      handles_ = &cached;
    } else {
      handles_ = &temporary_;
    }
    handles_->busy = true;
  }
  ~Lease() { handles_->busy = false; }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  Handles& get() { return *handles_; }

 private:
  Handles temporary_;
  Handles* handles_;
};

}  // namespace

HttpRequest json_post(std::string url, std::string json_body, const std::string& bearer_token) {
  HttpRequest request;
  request.method = "POST";
  request.url = std::move(url);
  request.body = std::move(json_body);
  request.headers.push_back({"Content-Type", "application/json"});
  if (!bearer_token.empty()) request.headers.push_back({"Authorization", "Bearer " + bearer_token});
  return request;
}

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

std::string_view to_string(HttpOutcome outcome) {
  switch (outcome) {
    case HttpOutcome::kComplete: return "complete";
    case HttpOutcome::kStopped: return "stopped";
    case HttpOutcome::kCancelled: return "cancelled";
    case HttpOutcome::kAborted: return "aborted";
    case HttpOutcome::kTimedOut: return "timed out";
    case HttpOutcome::kConnectFailed: return "connection failed";
    case HttpOutcome::kFailed: return "transfer failed";
  }
  return "unknown";
}

HttpResponse http_perform(const HttpRequest& request, const BodySink& sink,
                          const CancelToken& cancel) {
  curl_detail::global_init();
  Lease lease;
  Handles& handles = lease.get();
  if (!handles.ensure()) {
    HttpResponse response;
    response.error = "libcurl initialisation failed";
    return response;
  }
  CURL* easy = handles.easy;
  CURLM* multi = handles.multi;
  curl_easy_reset(easy);
  curl_detail::CurlTransfer transfer(request, sink, cancel);
  transfer.prepare(easy);

  // The multi loop (not curl_easy_perform) bounds every wait to kPollMs, so a cancel is seen
  // promptly even while the server sends nothing; easy_perform idles up to a second.
  curl_multi_add_handle(multi, easy);
  int running = 1;
  while (true) {
    if (curl_multi_perform(multi, &running) != CURLM_OK) break;
    if (running == 0 || transfer.should_stop()) break;
    if (curl_multi_poll(multi, nullptr, 0, kPollMs, nullptr) != CURLM_OK) break;
  }
  std::optional<CURLcode> code;
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
    if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy) code = msg->data.result;
  }
  curl_multi_remove_handle(multi, easy);  // mid-transfer this closes the connection
  return transfer.finish(code);
}

Result<HttpResponse> http_fetch(const HttpRequest& request, const CancelToken& cancel) {
  HttpResponse response = http_perform(request, BodySink{}, cancel);
  if (response.success()) return response;
  if (response.outcome != HttpOutcome::kComplete) {
    std::string message = request.method + " " + request.url + ": " +
                          std::string(to_string(response.outcome));
    if (!response.error.empty()) message += " (" + response.error + ")";
    return http_error(response, message);
  }
  return http_error(response, request.method + " " + request.url + ": HTTP " +
                                  std::to_string(response.status) + ": " +
                                  response.body.substr(0, 300));
}

std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) {
  value = trim_space(value);
  if (value.empty()) return std::nullopt;
  if (std::isdigit(static_cast<unsigned char>(value.front())) != 0) {
    double seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || end != value.data() + value.size() || !std::isfinite(seconds)) {
      return std::nullopt;
    }
    return std::chrono::milliseconds(std::llround(std::min(seconds, 1e9) * 1000.0));
  }
  const std::string date(value);
  const std::time_t when = curl_getdate(date.c_str(), nullptr);
  if (when == -1) return std::nullopt;
  const auto wait = std::chrono::system_clock::from_time_t(when) - now;
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::duration_cast<std::chrono::milliseconds>(wait));
}

std::string describe_failure(const HttpResponse& response) {
  if (response.outcome != HttpOutcome::kComplete || response.status == 0) {
    std::string text(to_string(response.outcome));
    if (!response.error.empty()) text += " (" + response.error + ")";
    return text;
  }
  std::string text = "HTTP " + std::to_string(response.status);
  const auto parsed = nlohmann::json::parse(response.body, nullptr, false);
  if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_object() &&
      parsed["error"].contains("message") && parsed["error"]["message"].is_string()) {
    return text + ": " + parsed["error"]["message"].get<std::string>();
  }
  if (!response.body.empty()) text += ": " + response.body.substr(0, 200);
  return text;
}

ErrorKind curl_failure_kind(int curl_code) {
  switch (static_cast<CURLcode>(curl_code)) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
      return ErrorKind::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      return ErrorKind::kTimeout;
    case CURLE_PARTIAL_FILE:  // "transfer closed with outstanding read data remaining"
    case CURLE_GOT_NOTHING:   // "Empty reply from server"
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return ErrorKind::kReset;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
      return ErrorKind::kMalformed;
    default:
      return ErrorKind::kOther;
  }
}

ErrorKind status_failure_kind(int status, std::string_view body) {
  if (status == 429 || status == 403) {
    // OpenAI sends its out-of-credit error with 429 (older servers with 403).
    const auto parsed = nlohmann::json::parse(body, nullptr, false);
    if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_object()) {
      const auto& e = parsed["error"];
      for (const char* field : {"code", "type"}) {
        if (e.contains(field) && e[field] == "insufficient_quota") return ErrorKind::kQuota;
      }
    }
  }
  if (status == 429) return ErrorKind::kRateLimited;
  if (status == 401 || status == 403) return ErrorKind::kAuth;
  if (status == 408) return ErrorKind::kTimeout;
  if (status == 409 || (status >= 500 && status < 600)) return ErrorKind::kServerError;
  return ErrorKind::kOther;
}

ErrorKind failure_kind(const HttpResponse& response) {
  // An error status says more than how its body's transfer ended.
  if (response.status != 0 && (response.status < 200 || response.status >= 300)) {
    return status_failure_kind(response.status, response.body);
  }
  return response.transport_kind;
}

Error http_error(const HttpResponse& response, std::string message) {
  Error error = make_error(failure_kind(response), std::move(message));
  error.retry_after = retry_after_of(response);
  return error;
}

std::optional<std::chrono::milliseconds> retry_after_of(const HttpResponse& response) {
  const auto now = std::chrono::system_clock::now();
  if (auto ms = response.header("retry-after-ms")) {
    if (auto wait = parse_retry_after(*ms, now)) return *wait / 1000;  // the value was ms
  }
  if (auto value = response.header("retry-after")) return parse_retry_after(*value, now);
  return std::nullopt;
}

std::string redact_secrets(std::string text, const std::string& secret) {
  if (!secret.empty()) {
    for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos)) {
      text.replace(pos, secret.size(), "[redacted]");
    }
  }
  static const std::regex kKeyLike("sk-[A-Za-z0-9_*-]{6,}");
  return std::regex_replace(text, kKeyLike, "sk-[redacted]");
}

}  // namespace chalkbot
