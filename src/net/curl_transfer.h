#pragma once
// Private to net/: one request on a libcurl easy handle - its options, the state its callbacks
// keep, and how it ended. The blocking http_perform and the HttpEngine both drive it.
#include <curl/curl.h>

#include <chrono>
#include <optional>

#include "net/http.h"

namespace chalkbot::curl_detail {

void global_init();  // once per process, before the first handle

class CurlTransfer {
 public:
  // `request`, `sink` and `cancel` must outlive the transfer. An empty sink collects the body.
  CurlTransfer(const HttpRequest& request, const BodySink& sink, const CancelToken& cancel);
  ~CurlTransfer();
  CurlTransfer(const CurlTransfer&) = delete;
  CurlTransfer& operator=(const CurlTransfer&) = delete;

  // Sets a freshly reset `easy` up for the request; its CURLOPT_PRIVATE points at this transfer.
  void prepare(CURL* easy);
  // Whether we end the transfer now: cancelled, should_abort, or no bytes for stall_timeout_ms.
  bool should_stop();
  // How it ended, once libcurl said it is done with `code` (nullopt: it never said so) or we
  // stopped it. Call after the easy handle left its multi handle.
  HttpResponse finish(std::optional<CURLcode> code);

 private:
  friend std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user);
  friend std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user);

  const HttpRequest& request_;
  const BodySink& sink_;
  CancelToken cancel_;
  CURL* easy_ = nullptr;
  curl_slist* header_list_ = nullptr;
  curl_mime* mime_ = nullptr;
  char errbuf_[CURL_ERROR_SIZE] = {};
  bool headers_accepted_ = false;
  std::optional<HttpOutcome> ended_;  // set when we ended the transfer ourselves
  std::chrono::steady_clock::time_point last_bytes_ = std::chrono::steady_clock::now();
  HttpResponse response_;
};

}  // namespace chalkbot::curl_detail
