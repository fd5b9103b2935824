#include "net/curl_transfer.h"

#include <mutex>
#include <string>

#include "core/text.h"

namespace chalkbot::curl_detail {
namespace {

constexpr std::size_t kMaxErrorBody = 64 * 1024;

}  // namespace

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<CurlTransfer*>(user);
  const std::size_t len = size * count;
  t.last_bytes_ = std::chrono::steady_clock::now();
  if (t.should_stop()) return 0;
  long status = 0;
  curl_easy_getinfo(t.easy_, CURLINFO_RESPONSE_CODE, &status);
  const bool success = status >= 200 && status < 300;
  if (!success || !t.sink_) {
    if (!success && t.response_.body.size() >= kMaxErrorBody) return len;
    t.response_.body.append(data, len);
    return len;
  }
  if (!t.headers_accepted_ && t.request_.accept_headers &&
      !t.request_.accept_headers(t.response_.headers)) {
    t.ended_ = HttpOutcome::kStopped;
    return 0;
  }
  t.headers_accepted_ = true;
  if (!t.sink_(std::string_view(data, len))) {
    t.ended_ = HttpOutcome::kStopped;
    return 0;
  }
  return len;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<CurlTransfer*>(user);
  const std::size_t len = size * count;
  t.last_bytes_ = std::chrono::steady_clock::now();
  const std::string_view line = trim_space(std::string_view(data, len));
  if (line.starts_with("HTTP/")) {
    t.response_.headers.clear();  // a new response (after 100 Continue or a redirect)
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    t.response_.headers.push_back({std::string(trim_space(line.substr(0, colon))),
                                   std::string(trim_space(line.substr(colon + 1)))});
  }
  return len;
}

namespace {

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<CurlTransfer*>(user)->should_stop() ? 1 : 0;
}

}  // namespace

CurlTransfer::CurlTransfer(const HttpRequest& request, const BodySink& sink,
                           const CancelToken& cancel)
    : request_(request), sink_(sink), cancel_(cancel) {}

CurlTransfer::~CurlTransfer() {
  curl_slist_free_all(header_list_);
  if (mime_ != nullptr) curl_mime_free(mime_);
}

void CurlTransfer::prepare(CURL* easy) {
  easy_ = easy;
  for (const auto& h : request_.headers) {
    header_list_ = curl_slist_append(header_list_, (h.name + ": " + h.value).c_str());
  }
  // No "Expect: 100-continue" round trip before larger bodies. Not when signing: curl 7.88's
  // SigV4 would sign the removed header as an empty one, and AWS rejects the signature (curl
  // issue 11664).
  if (request_.aws_sigv4.empty()) header_list_ = curl_slist_append(header_list_, "Expect:");

  curl_easy_setopt(easy, CURLOPT_PRIVATE, this);
  curl_easy_setopt(easy, CURLOPT_URL, request_.url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "chalkbot/0.1");
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf_);
  if (request_.connect_timeout_ms > 0) {
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(request_.connect_timeout_ms));
  }
  if (request_.total_timeout_ms > 0) {
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(request_.total_timeout_ms));
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, header_list_);
  if (!request_.aws_sigv4.empty()) {
    curl_easy_setopt(easy, CURLOPT_AWS_SIGV4, request_.aws_sigv4.c_str());
    curl_easy_setopt(easy, CURLOPT_USERNAME, request_.username.c_str());
    curl_easy_setopt(easy, CURLOPT_PASSWORD, request_.password.c_str());
  }
  if (!request_.parts.empty()) {
    mime_ = curl_mime_init(easy);
    for (const auto& part : request_.parts) {
      curl_mimepart* p = curl_mime_addpart(mime_);
      curl_mime_name(p, part.name.c_str());
      curl_mime_data(p, part.data.data(), part.data.size());
      if (!part.filename.empty()) curl_mime_filename(p, part.filename.c_str());
      if (!part.content_type.empty()) curl_mime_type(p, part.content_type.c_str());
    }
    curl_easy_setopt(easy, CURLOPT_MIMEPOST, mime_);
  } else if (request_.method == "POST") {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request_.body.size()));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request_.body.data());
  } else if (request_.method != "GET") {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request_.method.c_str());
    if (!request_.body.empty()) {  // PUT, PATCH: a body sent like a POST's, under their name
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request_.body.size()));
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request_.body.data());
    }
  }
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(easy, CURLOPT_XFERINFODATA, this);
}

bool CurlTransfer::should_stop() {
  if (ended_) return true;
  if (cancel_.cancelled()) {
    ended_ = HttpOutcome::kCancelled;
  } else if (request_.should_abort && request_.should_abort()) {
    ended_ = HttpOutcome::kAborted;
  } else if (request_.stall_timeout_ms > 0 &&
             std::chrono::steady_clock::now() - last_bytes_ >=
                 std::chrono::milliseconds(request_.stall_timeout_ms)) {
    ended_ = HttpOutcome::kTimedOut;
    response_.error =
        "no data from the server for " + std::to_string(request_.stall_timeout_ms) + " ms";
  }
  return ended_.has_value();
}

HttpResponse CurlTransfer::finish(std::optional<CURLcode> code) {
  HttpResponse response = std::move(response_);
  long status = 0;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  // Whether the request went out: a reused keep-alive connection has no connect time of its own.
  long request_bytes = 0;
  curl_easy_getinfo(easy_, CURLINFO_REQUEST_SIZE, &request_bytes);

  if (ended_) {
    response.outcome = *ended_;
    if (response.outcome == HttpOutcome::kTimedOut) response.transport_kind = ErrorKind::kTimeout;
    if (response.outcome == HttpOutcome::kCancelled) {
      response.transport_kind = ErrorKind::kCancelled;
    }
  } else if (!code) {
    response.outcome = HttpOutcome::kFailed;
    response.error = "libcurl multi loop failed";
  } else if (*code == CURLE_OK) {
    response.outcome = HttpOutcome::kComplete;
  } else {
    response.error = errbuf_[0] != '\0' ? std::string(errbuf_) : curl_easy_strerror(*code);
    response.transport_kind = curl_failure_kind(*code);
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

}  // namespace chalkbot::curl_detail
