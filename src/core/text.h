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

}  // namespace chalkbot
