#pragma once
// Asterisk AudioSocket messages, as the protocol is described in Asterisk's documentation
// (docs/Configuration/Channel-Drivers/AudioSocket.md) and CyCoreSystems/audiosocket's README:
// a 3-byte header -- kind (1 byte), payload length (16-bit unsigned, big-endian) -- then the
// payload. Kinds: 0x00 terminate (no payload; closing the socket means the same), 0x01 the
// stream's UUID (16 bytes, binary), 0x03 a DTMF digit (1 ASCII byte), 0x10 audio (signed linear
// 16-bit little-endian, 8 kHz mono; Asterisk sends 20 ms = 320 bytes), 0xff an error (payload:
// an optional application-specific code). Pure functions: the server and the tests share them.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/audio.h"

namespace chalkbot::audiosocket {

enum class Kind : std::uint8_t {
  kHangup = 0x00,
  kUuid = 0x01,
  kDtmf = 0x03,
  kAudio = 0x10,
  kError = 0xff,
};

inline constexpr std::size_t kHeaderBytes = 3;
inline constexpr std::size_t kUuidBytes = 16;
// Longest audio payload taken: a second of it. Asterisk sends 320 bytes; more is a broken peer.
inline constexpr std::size_t kMaxAudioBytes = 16000;
// Longest error payload taken (it is only logged).
inline constexpr std::size_t kMaxErrorBytes = 256;

struct Header {
  Kind kind;
  std::size_t length;
};

// The header of a message, or why it is not one this side accepts (an unknown kind, a length
// the kind does not allow).
struct HeaderCheck {
  std::optional<Header> header;
  std::string error;
};
HeaderCheck read_header(std::span<const std::uint8_t, kHeaderBytes> bytes);

// "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lower case.
std::string format_uuid(std::span<const std::uint8_t, kUuidBytes> bytes);
// True for the DTMF keys a phone has: 0-9 * # A-D.
bool is_dtmf_key(char c);

// 8 kHz signed linear samples from an audio payload (an even number of bytes).
void decode_audio(std::span<const std::uint8_t> payload, std::vector<Sample>& out);
// A whole message: header and payload.
std::vector<std::uint8_t> encode(Kind kind, std::span<const std::uint8_t> payload = {});
std::vector<std::uint8_t> encode_audio(Samples pcm);

}  // namespace chalkbot::audiosocket
