#pragma once
// Errors as values. Library code returns Result/Status instead of throwing or exiting, so one bad
// call fails that call; the edges (CLI, server) turn errors into messages and exit codes.
#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace chalkbot {

// What went wrong, set where the failure is seen (the HTTP client, a reply parser), so callers
// decide on retries and count failures without reading the message.
enum class ErrorKind {
  kOther,
  kRateLimited,  // the server asked us to slow down (HTTP 429)
  kQuota,        // the account has no quota or credit left
  kAuth,         // the credentials were refused (HTTP 401/403)
  kServerError,  // the service failed this time (HTTP 5xx)
  kTimeout,      // no (complete) answer in the time allowed
  kReset,        // the connection broke after the request went out
  kConnect,      // nothing was sent: the host could not be resolved or reached
  kMalformed,    // an answer came, but not one we can read
  kCancelled,    // we stopped waiting (the caller hung up or barged in): not the service's fault
};

// The kind's name in logs and metric labels: "rate_limited", "server_error", ...
constexpr std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kRateLimited: return "rate_limited";
    case ErrorKind::kQuota: return "quota";
    case ErrorKind::kAuth: return "auth";
    case ErrorKind::kServerError: return "server_error";
    case ErrorKind::kTimeout: return "timeout";
    case ErrorKind::kReset: return "reset";
    case ErrorKind::kConnect: return "connect";
    case ErrorKind::kMalformed: return "malformed";
    case ErrorKind::kCancelled: return "cancelled";
    case ErrorKind::kOther: break;
  }
  return "other";
}

// The kinds a provider failure is reported and counted as (agent/provider_failure.h, the metrics'
// `kind` label): every kind but kCancelled, which is not a failure of the provider.
inline constexpr std::array<std::string_view, 9> kProviderFailureKinds{
    to_string(ErrorKind::kRateLimited), to_string(ErrorKind::kQuota),
    to_string(ErrorKind::kAuth),        to_string(ErrorKind::kServerError),
    to_string(ErrorKind::kTimeout),     to_string(ErrorKind::kReset),
    to_string(ErrorKind::kConnect),     to_string(ErrorKind::kMalformed),
    to_string(ErrorKind::kOther)};

struct Error {
  std::string message;
  // The other side refused this particular request (a constraint, bad data): retrying the same
  // request cannot help, unlike a failure of the service itself (disk full, connection lost).
  bool rejected = false;
  ErrorKind kind = ErrorKind::kOther;
  // How long the server asked us to wait before trying again (HTTP Retry-After), when it did.
  std::optional<std::chrono::milliseconds> retry_after = std::nullopt;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<Error>(state_); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Error make_error(std::string message) { return Error{std::move(message), false}; }
inline Error make_rejection(std::string message) { return Error{std::move(message), true}; }
inline Error make_error(ErrorKind kind, std::string message) {
  return Error{std::move(message), false, kind};
}

}  // namespace chalkbot
