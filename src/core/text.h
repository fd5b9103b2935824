#pragma once
// Small text helpers shared by the protocol parsers and the sentence splitter.
#include <string>
#include <string_view>

namespace chalkbot {

// ASCII lower case: protocol tokens (SIP transports, header values) and English words. Bytes
// outside ASCII pass through unchanged, whatever the process locale.
inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

inline std::string ascii_upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// `text` without leading and trailing spaces, tabs, CR and LF.
inline std::string_view trim_space(std::string_view text) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

// Text from a peer, fit to quote in a protocol header or a log line: at most `limit` bytes of
// printable ASCII; any other byte, and '"' or '\\' (which would end or escape a quoted string),
// becomes '?'.
inline std::string printable_ascii(std::string_view text, std::size_t limit) {
  std::string out(text.substr(0, limit));
  for (char& c : out) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') c = '?';
  }
  return out;
}

}  // namespace chalkbot
