#include "media/srtp_stream.h"

#include <srtp2/srtp.h>

#include <array>
#include <climits>
#include <mutex>
#include <string>

namespace chalkbot {

struct SrtpStream::Session {
  srtp_t ctx = nullptr;
  ~Session() {
    if (ctx != nullptr) srtp_dealloc(ctx);
  }
};

namespace {

// libsrtp's global tables (cipher and auth types), once per process. Plus one session that is
// never freed: Debian's libsrtp2 runs its ciphers on NSS, which each cipher initialises and shuts
// down again, and with no other NSS context alive that loads and unloads NSS's crypto module
// (dlopen/dlclose): 2.5-5 ms per srtp_create, measured, against 18-43 us with this one held (the
// SRTP call set-up bench went from 400 to 600 calls/s without a failure).
Status init_libsrtp() {
  static std::once_flag once;
  static srtp_err_status_t status = srtp_err_status_ok;
  std::call_once(once, [] {
    status = srtp_init();
    if (status != srtp_err_status_ok) return;
    std::array<unsigned char, SRTP_AES_ICM_128_KEY_LEN_WSALT> key{};
    srtp_policy_t policy{};
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
    policy.ssrc.type = ssrc_any_inbound;
    policy.key = key.data();
    static srtp_t keep_crypto_loaded = nullptr;
    status = srtp_create(&keep_crypto_loaded, &policy);
  });
  if (status != srtp_err_status_ok) {
    return make_error("libsrtp initialisation failed (" + std::to_string(status) + ")");
  }
  return {};
}

bool fits(std::size_t size, std::size_t capacity) {
  return size <= capacity && capacity - size >= SrtpStream::kMaxTrailer && capacity <= INT_MAX;
}

// libsrtp's four packet functions share one shape: in place, the length in and out.
using PacketFunction = srtp_err_status_t (*)(srtp_t, void*, int*);

bool apply(PacketFunction function, srtp_t ctx, std::uint8_t* packet, std::size_t& size) {
  int len = static_cast<int>(size);  // callers checked size <= INT_MAX
  if (function(ctx, packet, &len) != srtp_err_status_ok) return false;
  size = static_cast<std::size_t>(len);
  return true;
}

}  // namespace

SrtpStream::SrtpStream(std::unique_ptr<Session> session) : session_(std::move(session)) {}
SrtpStream::~SrtpStream() = default;

Result<std::unique_ptr<SrtpStream>> SrtpStream::create(std::string_view suite,
                                                       std::span<const std::uint8_t> key_salt,
                                                       Direction direction) {
  static_assert(SRTP_MAX_TRAILER_LEN + 4 <= kMaxTrailer);
  if (auto status = init_libsrtp(); !status) return status.error();
  if (key_salt.size() != SRTP_AES_ICM_128_KEY_LEN_WSALT) {
    return make_error("SRTP key and salt must be " +
                      std::to_string(SRTP_AES_ICM_128_KEY_LEN_WSALT) + " bytes");
  }
  srtp_policy_t policy{};
  if (suite == "AES_CM_128_HMAC_SHA1_80") {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
  } else if (suite == "AES_CM_128_HMAC_SHA1_32") {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&policy.rtp);
  } else {
    return make_error("unsupported SRTP suite '" + std::string(suite) + "'");
  }
  srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
  policy.ssrc.type = direction == Direction::kSend ? ssrc_any_outbound : ssrc_any_inbound;
  // libsrtp copies the key into its own context; this copy is wiped below.
  std::array<std::uint8_t, SRTP_AES_ICM_128_KEY_LEN_WSALT> key{};
  std::copy(key_salt.begin(), key_salt.end(), key.begin());
  policy.key = key.data();
  policy.window_size = 128;  // replay window (RFC 3711 3.3.2's minimum 64)
  policy.allow_repeat_tx = 0;
  auto session = std::make_unique<Session>();
  const srtp_err_status_t status = srtp_create(&session->ctx, &policy);
  std::fill(key.begin(), key.end(), std::uint8_t{0});
  if (status != srtp_err_status_ok) {
    session->ctx = nullptr;
    return make_error("SRTP context creation failed (" + std::to_string(status) + ")");
  }
  return std::unique_ptr<SrtpStream>(new SrtpStream(std::move(session)));
}

bool SrtpStream::protect_rtp(std::uint8_t* packet, std::size_t& size, std::size_t capacity) {
  return fits(size, capacity) && apply(srtp_protect, session_->ctx, packet, size);
}

bool SrtpStream::protect_rtcp(std::uint8_t* packet, std::size_t& size, std::size_t capacity) {
  return fits(size, capacity) && apply(srtp_protect_rtcp, session_->ctx, packet, size);
}

bool SrtpStream::unprotect_rtp(std::uint8_t* packet, std::size_t& size) {
  return size <= INT_MAX && apply(srtp_unprotect, session_->ctx, packet, size);
}

bool SrtpStream::unprotect_rtcp(std::uint8_t* packet, std::size_t& size) {
  return size <= INT_MAX && apply(srtp_unprotect_rtcp, session_->ctx, packet, size);
}

}  // namespace chalkbot
