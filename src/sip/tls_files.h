#pragma once
// The PEM files of sip.tls_*: checked with OpenSSL at start-up, so a bad one stops the server
// with an error that names the key and the file (sofia-sip would listen anyway and fail every
// handshake), then laid out the way sofia-sip 1.12 reads them: one directory holding agent.pem
// (private key, then certificate) and cafile.pem (trusted CAs). The directory is private (0700)
// and lives only while the stack starts.
#include <string>

#include "core/result.h"
#include "core/settings.h"

namespace chalkbot::sip {

// Checks sip.tls_certificate, sip.tls_private_key (they must match) and sip.tls_ca_file (if set).
Status check_tls_files(const SipSettings& sip);

class TlsCertificateDir {
 public:
  // check_tls_files(), then the directory for TPTAG_CERTIFICATE.
  static Result<TlsCertificateDir> create(const SipSettings& sip);
  TlsCertificateDir(TlsCertificateDir&& other) noexcept;
  TlsCertificateDir& operator=(TlsCertificateDir&&) = delete;
  ~TlsCertificateDir();  // removes it
  const std::string& path() const { return path_; }

 private:
  TlsCertificateDir() = default;
  std::string path_;
};

// "host:port" / "[v6]:port" of sip.tls_listen; port 0 means a free one.
struct HostPort {
  std::string host;
  int port = 0;
};
Result<HostPort> parse_tls_listen(const std::string& text);

}  // namespace chalkbot::sip
