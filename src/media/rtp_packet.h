#pragma once
// RTP (RFC 3550 §5.1) and the little RTCP Chalkbot needs. Parsing never allocates and never reads
// outside the given bytes; the views it returns point into those bytes. Pure functions: any thread.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/result.h"

namespace chalkbot {

inline constexpr std::size_t kRtpFixedHeaderSize = 12;
inline constexpr std::size_t kRtpMaxCsrc = 15;

struct RtpHeader {
  bool padding = false;  // set by the parser only; serialize never pads
  bool marker = false;
  std::uint8_t payload_type = 0;  // 0..127
  std::uint16_t sequence = 0;
  std::uint32_t timestamp = 0;
  std::uint32_t ssrc = 0;
  std::uint8_t csrc_count = 0;
  std::array<std::uint32_t, kRtpMaxCsrc> csrcs{};
};

struct RtpPacketView {
  RtpHeader header;
  bool has_extension = false;
  std::uint16_t extension_profile = 0;
  std::span<const std::uint8_t> extension;  // the extension words, without its 4-byte header
  std::span<const std::uint8_t> payload;    // padding already removed
};

enum class RtpError {
  kOk,
  kTooShort,
  kBadVersion,
  kCsrcOverrun,
  kExtensionOverrun,
  kBadPadding,
  kRtcpPayloadType,  // 72..76 with the marker: RTCP multiplexed on the RTP port (RFC 5761)
  kBufferTooSmall,
  kBadHeaderField,
};
const char* to_string(RtpError error);

// Hot-path form: no allocation even for garbage input.
RtpError parse_rtp(std::span<const std::uint8_t> bytes, RtpPacketView& out);
// Convenience form for code off the media path.
Result<RtpPacketView> parse_rtp(std::span<const std::uint8_t> bytes);

// Header (with its CSRCs, no extension, no padding) then payload into out. Returns the packet size
// or 0 when out is too small or a field is out of range (payload_type > 127, csrc_count > 15).
std::size_t serialize_rtp(const RtpHeader& header, std::span<const std::uint8_t> payload,
                          std::span<std::uint8_t> out);

// RTCP: enough to check a compound packet is well formed and to send a Sender Report.
// A compound packet is valid when every part has version 2, the first is SR or RR (or it is a
// lone BYE/APP from lax peers), and the lengths add up exactly.
bool is_valid_rtcp(std::span<const std::uint8_t> bytes);

struct SenderReport {
  std::uint32_t ssrc = 0;
  std::uint64_t ntp_time = 0;  // NTP 32.32 fixed point
  std::uint32_t rtp_timestamp = 0;
  std::uint32_t packet_count = 0;
  std::uint32_t octet_count = 0;
};
// SR (no report blocks) followed by SDES with the CNAME, as RFC 3550 §6.1 requires of a compound
// packet. Returns the size written, 0 when out is too small or the cname is longer than 255.
std::size_t write_rtcp_sr(const SenderReport& sr, std::span<const char> cname,
                          std::span<std::uint8_t> out);

}  // namespace chalkbot
