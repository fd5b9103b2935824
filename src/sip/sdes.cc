#include "sip/sdes.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "core/text.h"

namespace chalkbot::sip {
namespace {

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  const char* at = std::strchr(kBase64, c);
  return c != '\0' && at != nullptr ? static_cast<int>(at - kBase64) : -1;
}

bool digits(std::string_view s, std::size_t max_digits) {
  return !s.empty() && s.size() <= max_digits &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::uint32_t to_u32(std::string_view s) {
  std::uint32_t value = 0;
  std::from_chars(s.data(), s.data() + s.size(), value);
  return value;
}

std::vector<std::string_view> fields(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t at = 0;
  while (at < s.size()) {
    const std::size_t start = s.find_first_not_of(" \t", at);
    if (start == std::string_view::npos) break;
    const std::size_t end = std::min(s.find_first_of(" \t", start), s.size());
    out.push_back(s.substr(start, end - start));
    at = end;
  }
  return out;
}

// RFC 4568 9.1: lifetime = ["2^"] 1*DIGIT.
bool valid_lifetime(std::string_view s) {
  if (s.substr(0, 2) == "2^") return digits(s.substr(2), 2) && to_u32(s.substr(2)) <= 64;
  return digits(s, 20);
}

}  // namespace

const char* to_string(SrtpSuite suite) {
  switch (suite) {
    case SrtpSuite::kAesCm128HmacSha1_80: return "AES_CM_128_HMAC_SHA1_80";
    case SrtpSuite::kAesCm128HmacSha1_32: return "AES_CM_128_HMAC_SHA1_32";
  }
  return "AES_CM_128_HMAC_SHA1_80";
}

Result<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return make_error("base64 length is not a multiple of 4");
  std::vector<std::uint8_t> out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int padding = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + static_cast<std::size_t>(k)];
      if (c == '=' && last && k >= 2) {
        ++padding;
        v[k] = 0;
        continue;
      }
      if (padding > 0 || (v[k] = base64_value(c)) < 0) return make_error("not base64");
    }
    const std::uint32_t bits = (static_cast<std::uint32_t>(v[0]) << 18) |
                               (static_cast<std::uint32_t>(v[1]) << 12) |
                               (static_cast<std::uint32_t>(v[2]) << 6) |
                               static_cast<std::uint32_t>(v[3]);
    out.push_back(static_cast<std::uint8_t>(bits >> 16));
    if (padding < 2) out.push_back(static_cast<std::uint8_t>(bits >> 8));
    if (padding < 1) out.push_back(static_cast<std::uint8_t>(bits));
  }
  return out;
}

std::string base64_encode(const std::uint8_t* data, std::size_t size) {
  std::string out;
  for (std::size_t i = 0; i < size; i += 3) {
    const std::size_t n = std::min<std::size_t>(3, size - i);
    std::uint32_t bits = static_cast<std::uint32_t>(data[i]) << 16;
    if (n > 1) bits |= static_cast<std::uint32_t>(data[i + 1]) << 8;
    if (n > 2) bits |= data[i + 2];
    out += kBase64[(bits >> 18) & 63];
    out += kBase64[(bits >> 12) & 63];
    out += n > 1 ? kBase64[(bits >> 6) & 63] : '=';
    out += n > 2 ? kBase64[bits & 63] : '=';
  }
  return out;
}

Result<CryptoAttribute> parse_crypto(std::string_view value) {
  const auto f = fields(value);
  if (f.size() < 3) return make_error("a=crypto needs a tag, a suite and key parameters");
  CryptoAttribute crypto;
  if (!digits(f[0], 9) || (crypto.tag = to_u32(f[0])) == 0) {
    return make_error("a=crypto tag is not 1 to 999999999");
  }
  if (f[1] == "AES_CM_128_HMAC_SHA1_80") {
    crypto.suite = SrtpSuite::kAesCm128HmacSha1_80;
  } else if (f[1] == "AES_CM_128_HMAC_SHA1_32") {
    crypto.suite = SrtpSuite::kAesCm128HmacSha1_32;
  } else {
    return make_error("unsupported crypto suite '" + std::string(f[1].substr(0, 40)) + "'");
  }
  std::string_view key_params = f[2];
  if (key_params.find(';') != std::string_view::npos) {
    return make_error("more than one key in a=crypto (only one, without MKI, is supported)");
  }
  if (ascii_lower(key_params.substr(0, 7)) != "inline:") {
    return make_error("a=crypto key method is not inline:");
  }
  key_params.remove_prefix(7);
  // key-info = key-salt ["|" lifetime] ["|" mki-value ":" mki-length]
  std::vector<std::string_view> parts;
  for (std::size_t bar; (bar = key_params.find('|')) != std::string_view::npos;) {
    parts.push_back(key_params.substr(0, bar));
    key_params.remove_prefix(bar + 1);
  }
  parts.push_back(key_params);
  if (parts.size() > 3) return make_error("a=crypto key has too many '|' parts");
  auto key = base64_decode(parts[0]);
  if (!key) return make_error("a=crypto key is not base64");
  if (key->size() != kSrtpKeySaltBytes) {
    return make_error("a=crypto key and salt are " + std::to_string(key->size()) +
                      " bytes, not 30");
  }
  std::copy(key->begin(), key->end(), crypto.key_salt.begin());
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::string_view part = parts[i];
    if (const auto colon = part.find(':'); colon != std::string_view::npos) {
      // MKI: 1*DIGIT ":" 1*3DIGIT, a length of 1 to 128 bytes.
      const auto mki_value = part.substr(0, colon);
      const auto mki_length = part.substr(colon + 1);
      if (!digits(mki_value, 39) || !digits(mki_length, 3) || to_u32(mki_length) == 0 ||
          to_u32(mki_length) > 128 || crypto.mki_length != 0) {
        return make_error("bad a=crypto MKI '" + std::string(part.substr(0, 40)) + "'");
      }
      crypto.mki_length = to_u32(mki_length);
    } else {
      if (i != 1 || !valid_lifetime(part)) {  // the lifetime comes first, once
        return make_error("bad a=crypto lifetime '" + std::string(part.substr(0, 40)) + "'");
      }
      crypto.lifetime = std::string(part);
    }
  }
  for (std::size_t i = 3; i < f.size(); ++i) crypto.session_params.emplace_back(f[i]);
  return crypto;
}

std::string format_crypto(const CryptoAttribute& crypto) {
  return std::to_string(crypto.tag) + " " + to_string(crypto.suite) + " inline:" +
         base64_encode(crypto.key_salt.data(), crypto.key_salt.size());
}

Result<SrtpMode> parse_srtp_mode(std::string_view text) {
  if (text == "off") return SrtpMode::kOff;
  if (text == "optional") return SrtpMode::kOptional;
  if (text == "required") return SrtpMode::kRequired;
  return make_error("media.srtp: expected off, optional or required, got '" + std::string(text) +
                    "'");
}

std::optional<CryptoAttribute> answered_crypto(const RemoteMedia& answer,
                                               const CryptoAttribute& offered) {
  for (const auto& value : answer.crypto) {
    auto crypto = parse_crypto(value);
    if (crypto && crypto->tag == offered.tag && crypto->suite == offered.suite &&
        crypto->mki_length == 0 && crypto->session_params.empty()) {
      return *crypto;
    }
  }
  return std::nullopt;
}

SrtpAnswer answer_srtp(const RemoteMedia& remote, SrtpMode mode, const SrtpKeySalt& fresh_key) {
  SrtpAnswer answer;
  const std::string profile = ascii_upper(remote.profile);
  const bool savp = profile == "RTP/SAVP";
  if (profile != "RTP/AVP" && !savp) {
    answer.warn_code = 302;
    answer.problem = "media profile " + remote.profile + " not supported (RTP/AVP, RTP/SAVP)";
    return answer;
  }
  if (mode == SrtpMode::kOff) {
    if (savp) {
      answer.warn_code = 302;
      answer.problem = "media profile RTP/SAVP not supported (media.srtp is off)";
    }
    return answer;  // plain RTP; a=crypto on RTP/AVP is ignored
  }
  std::string first_error;
  for (const auto& value : remote.crypto) {
    auto crypto = parse_crypto(value);
    if (crypto && crypto->mki_length != 0) crypto = make_error("a=crypto with MKI not supported");
    if (crypto && !crypto->session_params.empty()) {
      crypto = make_error("a=crypto session parameters not supported");
    }
    if (!crypto) {
      if (first_error.empty()) first_error = crypto.error().message;
      continue;
    }
    answer.use_srtp = true;
    answer.remote = *crypto;
    answer.local.tag = crypto->tag;
    answer.local.suite = crypto->suite;
    answer.local.key_salt = fresh_key;
    return answer;
  }
  if (!first_error.empty() && (savp || mode == SrtpMode::kRequired)) {
    answer.warn_code = 306;
    answer.problem = "no usable a=crypto (AES_CM_128_HMAC_SHA1_80/_32, one inline key): " +
                     first_error;
  } else if (savp) {
    answer.warn_code = 302;
    answer.problem = "RTP/SAVP offered without a=crypto (SDES keys)";
  } else if (mode == SrtpMode::kRequired) {
    answer.warn_code = 302;
    answer.problem = "plain RTP refused: media.srtp is required (RTP/SAVP with a=crypto)";
  }
  return answer;
}

Result<SrtpKeySalt> random_key_salt() {
  SrtpKeySalt key{};
  std::size_t got = 0;
  while (got < key.size()) {
    const ssize_t n = getrandom(key.data() + got, key.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(std::string("getrandom failed: ") + std::strerror(errno));
    }
    got += static_cast<std::size_t>(n);
  }
  return key;
}

}  // namespace chalkbot::sip
