#include "sip/access.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "core/text.h"

namespace chalkbot::sip {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Text address -> 16 bytes (IPv4 in the first 4); false if it is not an address.
bool to_bytes(std::string_view text, bool& v6, std::array<std::uint8_t, 16>& out) {
  const std::string s(text);
  out.fill(0);
  in_addr a4{};
  if (inet_pton(AF_INET, s.c_str(), &a4) == 1) {
    v6 = false;
    std::memcpy(out.data(), &a4, 4);
    return true;
  }
  in6_addr a6{};
  if (inet_pton(AF_INET6, s.c_str(), &a6) == 1) {
    v6 = true;
    std::memcpy(out.data(), &a6, 16);
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(out.data(), kMapped, 12) == 0) {
      std::memmove(out.data(), out.data() + 12, 4);
      std::memset(out.data() + 4, 0, 12);
      v6 = false;
    }
    return true;
  }
  return false;
}

std::vector<std::string> split_list(std::string_view list) {
  std::vector<std::string> items;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto item = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (!item.empty()) items.emplace_back(item);
  }
  return items;
}

}  // namespace

Result<NetworkList> NetworkList::parse(std::string_view list) {
  NetworkList result;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto item = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (item.empty()) continue;
    const auto slash = item.find('/');
    Network net;
    if (!to_bytes(item.substr(0, slash), net.v6, net.bytes)) {
      return make_error("bad network address '" + std::string(item) + "'");
    }
    const int max = net.v6 ? 128 : 32;
    net.prefix = max;
    if (slash != std::string_view::npos) {
      const auto p = item.substr(slash + 1);
      auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), net.prefix);
      if (ec != std::errc() || ptr != p.data() + p.size() || net.prefix < 0 ||
          net.prefix > max) {
        return make_error("bad prefix length in '" + std::string(item) + "'");
      }
    }
    result.networks_.push_back(net);
  }
  return result;
}

bool NetworkList::contains(std::string_view address) const {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};
  if (!to_bytes(address, v6, bytes)) return false;
  for (const auto& net : networks_) {
    if (net.v6 != v6) continue;
    const int whole = net.prefix / 8;
    const int rest = net.prefix % 8;
    const auto n = static_cast<size_t>(whole);
    if (std::memcmp(net.bytes.data(), bytes.data(), n) != 0) continue;
    if (rest != 0) {
      const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
      if ((net.bytes[n] & mask) != (bytes[n] & mask)) continue;
    }
    return true;
  }
  return false;
}

CallerFilter::CallerFilter(std::string_view list) : fragments_(split_list(list)) {}

bool CallerFilter::admits(std::string_view from_uri) const {
  if (fragments_.empty()) return true;
  for (const auto& f : fragments_) {
    if (from_uri.find(f) != std::string_view::npos) return true;
  }
  return false;
}

ScannerFilter::ScannerFilter(std::string_view list) {
  for (const auto& item : split_list(list)) fragments_.push_back(ascii_lower(item));
}

bool ScannerFilter::matches(std::string_view user_agent) const {
  if (fragments_.empty() || user_agent.empty()) return false;
  const std::string ua = ascii_lower(user_agent);
  return std::any_of(fragments_.begin(), fragments_.end(),
                     [&](const std::string& f) { return ua.find(f) != std::string::npos; });
}

}  // namespace chalkbot::sip
