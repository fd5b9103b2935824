#include "net/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>
#include <mutex>
#include <regex>

#include <nlohmann/json.hpp>

namespace chalkbot {
namespace {

constexpr std::size_t kMaxErrorBody = 64 * 1024;
constexpr int kPollMs = 20;  // how late a cancel or should_abort may be noticed

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
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

struct Transfer {
  CURL* easy = nullptr;
  const BodySink* sink = nullptr;
  const CancelToken* cancel = nullptr;
  const std::function<bool()>* should_abort = nullptr;
  const std::function<bool(const std::vector<HttpHeader>&)>* accept_headers = nullptr;
  bool headers_accepted = false;
  HttpResponse* response = nullptr;
  std::optional<HttpOutcome> ended;  // set when we ended the transfer ourselves
  int stall_timeout_ms = 0;
  std::chrono::steady_clock::time_point last_bytes = std::chrono::steady_clock::now();

  bool check_stop() {
    if (ended) return true;
    if (cancel->cancelled()) {
      ended = HttpOutcome::kCancelled;
    } else if (*should_abort && (*should_abort)()) {
      ended = HttpOutcome::kAborted;
    } else if (stall_timeout_ms > 0 && std::chrono::steady_clock::now() - last_bytes >=
                                           std::chrono::milliseconds(stall_timeout_ms)) {
      ended = HttpOutcome::kTimedOut;
      response->error = "no data from the server for " + std::to_string(stall_timeout_ms) + " ms";
    }
    return ended.has_value();
  }
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const std::size_t len = size * count;
  t.last_bytes = std::chrono::steady_clock::now();
  if (t.check_stop()) return 0;
  long status = 0;
  curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
  const bool success = status >= 200 && status < 300;
  if (!success || !*t.sink) {
    if (!success && t.response->body.size() >= kMaxErrorBody) return len;
    t.response->body.append(data, len);
    return len;
  }
  if (!t.headers_accepted && *t.accept_headers && !(*t.accept_headers)(t.response->headers)) {
    t.ended = HttpOutcome::kStopped;
    return 0;
  }
  t.headers_accepted = true;
  if (!(*t.sink)(std::string_view(data, len))) {
    t.ended = HttpOutcome::kStopped;
    return 0;
  }
  return len;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const std::size_t len = size * count;
  t.last_bytes = std::chrono::steady_clock::now();
  const std::string_view line = trim(std::string_view(data, len));
  if (line.starts_with("HTTP/")) {
    t.response->headers.clear();  // a new response (after 100 Continue or a redirect)
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    t.response->headers.push_back(
        {std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1)))});
  }
  return len;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<Transfer*>(user)->check_stop() ? 1 : 0;
}

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
  global_init();
  HttpResponse response;
  Lease lease;
  Handles& handles = lease.get();
  if (!handles.ensure()) {
    response.error = "libcurl initialisation failed";
    return response;
  }
  CURL* easy = handles.easy;
  CURLM* multi = handles.multi;
  curl_easy_reset(easy);

  Transfer transfer;
  transfer.easy = easy;
  transfer.sink = &sink;
  transfer.cancel = &cancel;
  transfer.should_abort = &request.should_abort;
  transfer.accept_headers = &request.accept_headers;
  transfer.response = &response;
  transfer.stall_timeout_ms = request.stall_timeout_ms;

  char errbuf[CURL_ERROR_SIZE] = {};
  curl_slist* header_list = nullptr;
  for (const auto& h : request.headers) {
    header_list = curl_slist_append(header_list, (h.name + ": " + h.value).c_str());
  }
  // No "Expect: 100-continue" round trip before larger bodies. Not when signing: curl 7.88's
  // SigV4 would sign the removed header as an empty one, and AWS rejects the signature (curl
  // issue 11664).
  if (request.aws_sigv4.empty()) header_list = curl_slist_append(header_list, "Expect:");
  curl_mime* mime = nullptr;

  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "chalkbot/0.1");
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
  if (request.connect_timeout_ms > 0) {
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(request.connect_timeout_ms));
  }
  if (request.total_timeout_ms > 0) {
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(request.total_timeout_ms));
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, header_list);
  if (!request.aws_sigv4.empty()) {
    curl_easy_setopt(easy, CURLOPT_AWS_SIGV4, request.aws_sigv4.c_str());
    curl_easy_setopt(easy, CURLOPT_USERNAME, request.username.c_str());
    curl_easy_setopt(easy, CURLOPT_PASSWORD, request.password.c_str());
  }
  if (!request.parts.empty()) {
    mime = curl_mime_init(easy);
    for (const auto& part : request.parts) {
      curl_mimepart* p = curl_mime_addpart(mime);
      curl_mime_name(p, part.name.c_str());
      curl_mime_data(p, part.data.data(), part.data.size());
      if (!part.filename.empty()) curl_mime_filename(p, part.filename.c_str());
      if (!part.content_type.empty()) curl_mime_type(p, part.content_type.c_str());
    }
    curl_easy_setopt(easy, CURLOPT_MIMEPOST, mime);
  } else if (request.method == "POST") {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
  } else if (request.method != "GET") {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &transfer);

  // The multi loop (not curl_easy_perform) bounds every wait to kPollMs, so a cancel is seen
  // promptly even while the server sends nothing; easy_perform idles up to a second.
  curl_multi_add_handle(multi, easy);
  int running = 1;
  while (true) {
    if (curl_multi_perform(multi, &running) != CURLM_OK) break;
    if (running == 0 || transfer.check_stop()) break;
    if (curl_multi_poll(multi, nullptr, 0, kPollMs, nullptr) != CURLM_OK) break;
  }
  bool finished = false;
  CURLcode code = CURLE_OK;
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
    if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy) {
      finished = true;
      code = msg->data.result;
    }
  }
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  // Whether the request went out: a reused keep-alive connection has no connect time of its own.
  long request_bytes = 0;
  curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request_bytes);
  curl_multi_remove_handle(multi, easy);  // mid-transfer this closes the connection
  curl_slist_free_all(header_list);
  if (mime != nullptr) curl_mime_free(mime);

  if (transfer.ended) {
    response.outcome = *transfer.ended;
    if (response.outcome == HttpOutcome::kTimedOut) response.transport_kind = ErrorKind::kTimeout;
    if (response.outcome == HttpOutcome::kCancelled) {
      response.transport_kind = ErrorKind::kCancelled;
    }
  } else if (!finished) {
    response.outcome = HttpOutcome::kFailed;
    response.error = "libcurl multi loop failed";
  } else if (code == CURLE_OK) {
    response.outcome = HttpOutcome::kComplete;
  } else {
    response.error = errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(code);
    response.transport_kind = curl_failure_kind(code);
    // A timeout before the request went out is a connect failure: the server never saw it.
    if (response.transport_kind == ErrorKind::kTimeout && request_bytes == 0) {
      response.transport_kind = ErrorKind::kConnect;
    }
    switch (response.transport_kind) {
      case ErrorKind::kConnect: response.outcome = HttpOutcome::kConnectFailed; break;
      case ErrorKind::kTimeout: response.outcome = HttpOutcome::kTimedOut; break;
      default: response.outcome = HttpOutcome::kFailed; break;
    }
  }
  return response;
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
  value = trim(value);
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
