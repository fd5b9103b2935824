#pragma once
// SDES key exchange for SRTP (RFC 4568): the a=crypto attribute of an audio stream, and what we
// answer to an offer's attributes under media.srtp. Pure functions, any thread; keys are never
// put into log text or error messages.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "sip/sdp.h"

namespace chalkbot::sip {

// The suites we run (RFC 4568 6.2.1, 6.2.2): AES-128 counter mode with an 80- or 32-bit
// HMAC-SHA1 tag. Both use a 16-byte master key and a 14-byte master salt.
enum class SrtpSuite { kAesCm128HmacSha1_80, kAesCm128HmacSha1_32 };
const char* to_string(SrtpSuite suite);
inline constexpr std::size_t kSrtpKeySaltBytes = 30;
using SrtpKeySalt = std::array<std::uint8_t, kSrtpKeySaltBytes>;

// One a=crypto value: "<tag> <suite> inline:<base64 key||salt>[|<lifetime>][|<MKI>:<length>]
// [<session parameters>]". Several key-params (';') or an unknown suite are parse errors.
struct CryptoAttribute {
  std::uint32_t tag = 1;  // 1..999999999: the answer repeats the offer's
  SrtpSuite suite = SrtpSuite::kAesCm128HmacSha1_80;
  SrtpKeySalt key_salt{};
  std::string lifetime;  // as written ("2^31", "1048576"), '' when absent
  std::uint32_t mki_length = 0;  // bytes of MKI in each packet; 0 when there is no MKI
  std::vector<std::string> session_params;  // e.g. "UNENCRYPTED_SRTP", "KDR=1"
};

// Parses the value after "a=crypto:".
Result<CryptoAttribute> parse_crypto(std::string_view value);
// The value for "a=crypto:" (no lifetime, MKI or session parameters).
std::string format_crypto(const CryptoAttribute& crypto);

// Strict base64 (RFC 4648 alphabet, '=' padding only at the end); nullopt-like error otherwise.
Result<std::vector<std::uint8_t>> base64_decode(std::string_view text);
std::string base64_encode(const std::uint8_t* data, std::size_t size);

enum class SrtpMode { kOff, kOptional, kRequired };  // media.srtp
Result<SrtpMode> parse_srtp_mode(std::string_view text);

// What we answer to an audio offer's transport.
struct SrtpAnswer {
  bool use_srtp = false;
  CryptoAttribute remote;  // their key (what we decrypt with); use_srtp only
  CryptoAttribute local;   // our key and the attribute we answer with; use_srtp only
  // Not 0: the offer cannot be taken (488 with this RFC 3261 warn-code and text): 302 plain RTP
  // offered while SRTP is required, or a profile we cannot run; 306 a=crypto offered but none we
  // can use (unknown suite, MKI, session parameters, a bad key).
  int warn_code = 0;
  std::string problem;
};

// The first a=crypto of `remote` we can run (its order is the offerer's preference), answered
// with `fresh_key` (from a CSPRNG: see random_key_salt) under the same tag and suite. Plain RTP/AVP
// offers may carry a=crypto too ("best effort" SRTP): under kOptional it is used when usable.
SrtpAnswer answer_srtp(const RemoteMedia& remote, SrtpMode mode, const SrtpKeySalt& fresh_key);

// The offerer's side (RFC 4568 5.1.3): the a=crypto of `answer` that accepts `offered` (same tag
// and suite, one inline key, no MKI or session parameters), or nothing: the answerer took no SRTP.
std::optional<CryptoAttribute> answered_crypto(const RemoteMedia& answer,
                                               const CryptoAttribute& offered);

// 30 bytes from the kernel's CSPRNG (getrandom).
Result<SrtpKeySalt> random_key_salt();

}  // namespace chalkbot::sip
