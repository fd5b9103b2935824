#pragma once
// Inbound SIP digest authentication (RFC 2617/3261 §22, MD5, qop=auth or none) for one configured
// user. Nonces are stateless: "<issue time>-<H(time:secret)>", valid for a few minutes, so nothing
// is stored per caller; a replayed response is accepted until its nonce expires (no nc tracking).
// Not thread-safe beyond const use: the sip thread owns it.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace chalkbot::sip {

class DigestAuth {
 public:
  static constexpr std::int64_t kNonceLifetimeS = 300;

  // An empty `user` turns authentication off.
  DigestAuth(std::string user, std::string password, std::string realm);

  bool enabled() const { return !user_.empty(); }

  // The WWW-Authenticate value for a 401; `stale`: the caller's credentials were right but the
  // nonce had expired (RFC 2617: retry without asking the user again).
  std::string challenge(std::int64_t now_s, bool stale = false) const;

  enum class Verdict { kOk, kStale, kBad };
  // `params`: the Authorization header's parameters, unquoted (username, realm, nonce, uri,
  // response, qop, nc, cnonce, algorithm).
  Verdict verify(const std::map<std::string, std::string>& params, std::string_view method,
                 std::int64_t now_s) const;

 private:
  std::string nonce_for(std::int64_t issued_s) const;

  std::string user_;
  std::string password_;
  std::string realm_;
  std::string secret_;  // random per process: nonces from an earlier run are stale
};

std::string md5_hex(std::string_view text);

}  // namespace chalkbot::sip
