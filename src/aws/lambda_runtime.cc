#include "aws/lambda_runtime.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <exception>

#include "core/log.h"
#include "core/retry.h"
#include "net/http.h"

namespace chalkbot {
namespace {

constexpr const char* kApiVersion = "/2018-06-01/runtime";
constexpr int kPostTimeoutMs = 10000;
constexpr int kMaxNextFailures = 5;  // then give up: Lambda replaces a runtime that exits

std::string error_body(const std::string& type, const std::string& message) {
  return nlohmann::json{{"errorType", type}, {"errorMessage", message}}.dump();
}

}  // namespace

LambdaRuntimeClient::LambdaRuntimeClient(std::string api)
    : base_("http://" + std::move(api) + kApiVersion) {}

Result<LambdaInvocation> LambdaRuntimeClient::next() const {
  HttpRequest request;
  request.url = base_ + "/invocation/next";
  auto response = http_fetch(request, CancelToken{});
  if (!response) return response.error();
  LambdaInvocation invocation;
  invocation.request_id = response->header("Lambda-Runtime-Aws-Request-Id").value_or("");
  if (invocation.request_id.empty()) {
    return make_error("lambda runtime API: next invocation without Lambda-Runtime-Aws-Request-Id");
  }
  if (auto deadline = response->header("Lambda-Runtime-Deadline-Ms")) {
    invocation.deadline_ms = std::strtoll(deadline->c_str(), nullptr, 10);
  }
  invocation.event = std::move(response->body);
  return invocation;
}

Status LambdaRuntimeClient::post(const std::string& path, const std::string& body,
                                 const std::string& error_type) const {
  HttpRequest request;
  request.method = "POST";
  request.url = base_ + path;
  request.body = body;
  request.headers = {{"Content-Type", "application/json"}};
  if (!error_type.empty())
    request.headers.push_back({"Lambda-Runtime-Function-Error-Type", error_type});
  request.total_timeout_ms = kPostTimeoutMs;
  auto response = http_fetch(request, CancelToken{});
  if (!response) return response.error();
  return {};
}

Status LambdaRuntimeClient::respond(const std::string& request_id, const std::string& body) const {
  return post("/invocation/" + request_id + "/response", body, "");
}

Status LambdaRuntimeClient::report_error(const std::string& request_id, const std::string& type,
                                         const std::string& message) const {
  return post("/invocation/" + request_id + "/error", error_body(type, message), type);
}

Status LambdaRuntimeClient::report_init_error(const std::string& type,
                                              const std::string& message) const {
  return post("/init/error", error_body(type, message), type);
}

Status run_lambda_loop(const LambdaRuntimeClient& runtime, const LambdaHandler& handler,
                       int max_invocations) {
  RetryPolicy policy;
  policy.max_attempts = kMaxNextFailures;
  policy.first_backoff = std::chrono::milliseconds(200);
  policy.max_backoff = std::chrono::milliseconds(1600);
  // Whatever failed, the runtime API is the only way to work: keep asking until the last try.
  policy.retryable = [](const Error&) { return true; };
  for (int handled = 0; max_invocations == 0 || handled < max_invocations;) {
    auto invocation = retry(
        policy, CancelToken{}, [&](const RetryAttempt&) { return runtime.next(); },
        [](const Error& error, int, std::chrono::milliseconds) {
          spdlog::warn("lambda: {}; retrying", error.message);
        });
    if (!invocation) return invocation.error();
    ++handled;
    Result<std::string> result = make_error("no result");
    try {
      result = handler(*invocation);
    } catch (const std::exception& e) {
      result = make_error(std::string("unexpected exception: ") + e.what());
    }
    const Status posted = result
                              ? runtime.respond(invocation->request_id, *result)
                              : runtime.report_error(invocation->request_id, "Runtime.HandlerError",
                                                     result.error().message);
    if (!posted) spdlog::warn("lambda: {}", posted.error().message);
  }
  return {};
}

}  // namespace chalkbot
