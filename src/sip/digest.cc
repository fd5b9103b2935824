#include "sip/digest.h"

#include <charconv>
#include <random>

#include <sofia-sip/su_md5.h>

namespace chalkbot::sip {

std::string md5_hex(std::string_view text) {
  su_md5_t ctx;
  su_md5_init(&ctx);
  // Inputs are short strings (user:realm:password and the like), well under usize_t's range.
  su_md5_update(&ctx, text.data(), static_cast<usize_t>(text.size()));
  char hex[33] = {};
  su_md5_hexdigest(&ctx, hex);
  su_md5_deinit(&ctx);
  return std::string(hex, 32);
}

DigestAuth::DigestAuth(std::string user, std::string password, std::string realm)
    : user_(std::move(user)), password_(std::move(password)), realm_(std::move(realm)) {
  std::random_device random;
  for (int i = 0; i < 4; ++i) secret_ += std::to_string(random());
}

std::string DigestAuth::nonce_for(std::int64_t issued_s) const {
  const std::string stamp = std::to_string(issued_s);
  return stamp + "-" + md5_hex(stamp + ":" + secret_);
}

std::string DigestAuth::challenge(std::int64_t now_s, bool stale) const {
  return "Digest realm=\"" + realm_ + "\", nonce=\"" + nonce_for(now_s) +
         "\", algorithm=MD5, qop=\"auth\"" + (stale ? ", stale=TRUE" : "");
}

DigestAuth::Verdict DigestAuth::verify(const std::map<std::string, std::string>& params,
                                       std::string_view method, std::int64_t now_s) const {
  auto get = [&](const char* name) -> std::string {
    auto it = params.find(name);
    return it == params.end() ? std::string() : it->second;
  };
  const std::string nonce = get("nonce");
  const std::string uri = get("uri");
  const std::string response = get("response");
  const std::string algorithm = get("algorithm");
  if (get("username") != user_ || get("realm") != realm_ || uri.empty() || response.empty() ||
      (!algorithm.empty() && algorithm != "MD5" && algorithm != "md5")) {
    return Verdict::kBad;
  }
  // Our own nonce, not forged: its stamp must hash back to it.
  const auto dash = nonce.find('-');
  std::int64_t issued = 0;
  if (dash == std::string::npos ||
      std::from_chars(nonce.data(), nonce.data() + dash, issued).ec != std::errc() ||
      nonce != nonce_for(issued) || issued > now_s) {
    return Verdict::kBad;
  }
  const std::string ha1 = md5_hex(user_ + ":" + realm_ + ":" + password_);
  const std::string ha2 = md5_hex(std::string(method) + ":" + uri);
  const std::string qop = get("qop");
  std::string expected;
  if (qop.empty()) {
    expected = md5_hex(ha1 + ":" + nonce + ":" + ha2);
  } else if (qop == "auth") {
    expected = md5_hex(ha1 + ":" + nonce + ":" + get("nc") + ":" + get("cnonce") + ":auth:" + ha2);
  } else {
    return Verdict::kBad;
  }
  if (response.size() != expected.size()) return Verdict::kBad;
  unsigned diff = 0;  // compared in constant time
  for (std::size_t i = 0; i < expected.size(); ++i) {
    diff |= static_cast<unsigned char>(response[i] ^ expected[i]);
  }
  if (diff != 0) return Verdict::kBad;
  return now_s - issued > kNonceLifetimeS ? Verdict::kStale : Verdict::kOk;
}

}  // namespace chalkbot::sip
