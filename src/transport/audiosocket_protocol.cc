#include "transport/audiosocket_protocol.h"

#include <cstdio>

namespace chalkbot::audiosocket {

HeaderCheck read_header(std::span<const std::uint8_t, kHeaderBytes> bytes) {
  const auto kind = static_cast<Kind>(bytes[0]);
  const std::size_t length = (std::size_t{bytes[1]} << 8) | bytes[2];
  const auto wrong = [&](const char* what) {
    char text[96];
    std::snprintf(text, sizeof text, "kind 0x%02x with a %zu-byte payload: %s", bytes[0], length,
                  what);
    return HeaderCheck{std::nullopt, text};
  };
  switch (kind) {
    case Kind::kHangup:
      break;  // any payload is ignored
    case Kind::kUuid:
      if (length != kUuidBytes) return wrong("a UUID is 16 bytes");
      break;
    case Kind::kDtmf:
      if (length != 1) return wrong("a DTMF digit is 1 byte");
      break;
    case Kind::kAudio:
      if (length == 0 || length % 2 != 0) return wrong("audio is whole 16-bit samples");
      if (length > kMaxAudioBytes) return wrong("more than a second of audio at once");
      break;
    case Kind::kError:
      if (length > kMaxErrorBytes) return wrong("an error code this long is not one");
      break;
    default:
      return wrong("not an AudioSocket message kind");
  }
  return {Header{kind, length}, ""};
}

std::string format_uuid(std::span<const std::uint8_t, kUuidBytes> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  text.reserve(36);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text += '-';
    text += kHex[bytes[i] >> 4];
    text += kHex[bytes[i] & 0x0f];
  }
  return text;
}

bool is_dtmf_key(char c) {
  return (c >= '0' && c <= '9') || c == '*' || c == '#' || (c >= 'A' && c <= 'D');
}

void decode_audio(std::span<const std::uint8_t> payload, std::vector<Sample>& out) {
  out.resize(payload.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<Sample>(payload[2 * i] | (payload[2 * i + 1] << 8));
  }
}

std::vector<std::uint8_t> encode(Kind kind, std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> message;
  message.reserve(kHeaderBytes + payload.size());
  message.push_back(static_cast<std::uint8_t>(kind));
  message.push_back(static_cast<std::uint8_t>(payload.size() >> 8));
  message.push_back(static_cast<std::uint8_t>(payload.size() & 0xff));
  message.insert(message.end(), payload.begin(), payload.end());
  return message;
}

std::vector<std::uint8_t> encode_audio(Samples pcm) {
  std::vector<std::uint8_t> message;
  message.reserve(kHeaderBytes + 2 * pcm.size());
  const std::size_t length = 2 * pcm.size();
  message.push_back(static_cast<std::uint8_t>(Kind::kAudio));
  message.push_back(static_cast<std::uint8_t>(length >> 8));
  message.push_back(static_cast<std::uint8_t>(length & 0xff));
  for (const Sample s : pcm) {
    const auto bits = static_cast<std::uint16_t>(s);
    message.push_back(static_cast<std::uint8_t>(bits & 0xff));
    message.push_back(static_cast<std::uint8_t>(bits >> 8));
  }
  return message;
}

}  // namespace chalkbot::audiosocket
