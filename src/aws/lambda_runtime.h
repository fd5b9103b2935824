#pragma once
// The AWS Lambda Runtime API client for a custom runtime (bootstrap): fetch the next invocation,
// post its response or its error, or report an initialisation error. API version 2018-06-01,
// plain HTTP to the address in AWS_LAMBDA_RUNTIME_API.
#include <cstdint>
#include <functional>
#include <string>

#include "core/result.h"

namespace chalkbot {

struct LambdaInvocation {
  std::string request_id;        // Lambda-Runtime-Aws-Request-Id
  std::int64_t deadline_ms = 0;  // Lambda-Runtime-Deadline-Ms (0 when absent)
  std::string event;             // the event body (JSON)
};

class LambdaRuntimeClient {
 public:
  explicit LambdaRuntimeClient(std::string api);  // "host:port"

  // Blocks until Lambda hands over the next event (no timeout: Lambda freezes us meanwhile).
  Result<LambdaInvocation> next() const;
  Status respond(const std::string& request_id, const std::string& body) const;
  Status report_error(const std::string& request_id, const std::string& type,
                      const std::string& message) const;
  Status report_init_error(const std::string& type, const std::string& message) const;

 private:
  Status post(const std::string& path, const std::string& body,
              const std::string& error_type) const;
  std::string base_;
};

// Handles one event; an Error is reported to Lambda as the invocation's error.
using LambdaHandler = std::function<Result<std::string>(const LambdaInvocation&)>;

// Serves invocations one after another: forever in Lambda, or until `max_invocations` were
// handled (0 = no limit; tests use it to end cleanly). An exception escaping the handler fails
// that invocation only. Returns an error when the Runtime API itself stops answering.
Status run_lambda_loop(const LambdaRuntimeClient& runtime, const LambdaHandler& handler,
                       int max_invocations);

}  // namespace chalkbot
