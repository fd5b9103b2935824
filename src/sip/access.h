#pragma once
// Who may call: source networks (CIDR, IPv4/IPv6) and caller URI fragments. Immutable after
// parsing, so the SIP thread reads it without locks.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace chalkbot::sip {

class NetworkList {
 public:
  // "127.0.0.0/8,::1/128,10.1.2.3" (a bare address is a /32 or /128). Empty list: nobody.
  static Result<NetworkList> parse(std::string_view list);
  // `address` in text form; IPv4-mapped IPv6 (::ffff:a.b.c.d) matches IPv4 networks.
  bool contains(std::string_view address) const;

 private:
  struct Network {
    bool v6 = false;
    std::array<std::uint8_t, 16> bytes{};
    int prefix = 0;
  };
  std::vector<Network> networks_;
};

// Comma list of substrings of the caller's From URI; empty list admits every caller.
class CallerFilter {
 public:
  explicit CallerFilter(std::string_view list);
  bool admits(std::string_view from_uri) const;

 private:
  std::vector<std::string> fragments_;
};

// Comma list of User-Agent fragments of known SIP scanners (friendly-scanner, sipvicious ...),
// matched case-insensitively; empty list matches nothing.
class ScannerFilter {
 public:
  explicit ScannerFilter(std::string_view list);
  bool matches(std::string_view user_agent) const;

 private:
  std::vector<std::string> fragments_;  // lower case
};

}  // namespace chalkbot::sip
