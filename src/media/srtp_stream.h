#pragma once
// One direction of a call's SRTP/SRTCP (RFC 3711) on libsrtp2: a master key and salt from SDES
// (sip/sdes.h) for every SSRC one side sends. Made on a control thread (it allocates), then used
// by the media thread alone; protect/unprotect work in place and never allocate, except once per
// new SSRC on the receiving side after its first packet authenticated.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "core/result.h"

namespace chalkbot {

class SrtpStream {
 public:
  enum class Direction { kSend, kReceive };
  // What protect may add to a packet: a buffer handed to it needs this much room past the packet.
  static constexpr std::size_t kMaxTrailer = 148;  // libsrtp: auth tag + MKI, + 4 SRTCP index

  // suite: AES_CM_128_HMAC_SHA1_80 or AES_CM_128_HMAC_SHA1_32 (SRTCP always takes the 80-bit
  // tag, RFC 4568 6.2.2); key_salt: the 30 bytes of an a=crypto inline key.
  static Result<std::unique_ptr<SrtpStream>> create(std::string_view suite,
                                                    std::span<const std::uint8_t> key_salt,
                                                    Direction direction);
  ~SrtpStream();
  SrtpStream(const SrtpStream&) = delete;
  SrtpStream& operator=(const SrtpStream&) = delete;

  // In place; `size` grows by the trailer (kSend) or shrinks to the plain packet (kReceive).
  // False: not sent / not authentic (wrong key, forged, replayed, truncated); the packet is junk.
  bool protect_rtp(std::uint8_t* packet, std::size_t& size, std::size_t capacity);
  bool protect_rtcp(std::uint8_t* packet, std::size_t& size, std::size_t capacity);
  bool unprotect_rtp(std::uint8_t* packet, std::size_t& size);
  bool unprotect_rtcp(std::uint8_t* packet, std::size_t& size);

 private:
  struct Session;
  explicit SrtpStream(std::unique_ptr<Session> session);
  std::unique_ptr<Session> session_;
};

}  // namespace chalkbot
