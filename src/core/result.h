#pragma once
// Errors as values. Library code returns Result/Status instead of throwing or exiting, so one bad
// call fails that call; the edges (CLI, server) turn errors into messages and exit codes.
#include <string>
#include <utility>
#include <variant>

namespace chalkbot {

struct Error {
  std::string message;
  // The other side refused this particular request (a constraint, bad data): retrying the same
  // request cannot help, unlike a failure of the service itself (disk full, connection lost).
  bool rejected = false;
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

}  // namespace chalkbot
