#include "sip/tls_files.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

namespace chalkbot::sip {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

Result<std::string> read_file(const std::string& key, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error(key + ": cannot read '" + path + "': " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::unique_ptr<BIO, BioFree> memory_bio(const std::string& text) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Refuses a passphrase prompt: encrypted keys fail to load instead of blocking on the terminal.
int no_passphrase(char*, int, int, void*) { return 0; }

Result<std::unique_ptr<X509, X509Free>> first_certificate(const std::string& key,
                                                          const std::string& path,
                                                          const std::string& text) {
  auto bio = memory_bio(text);
  std::unique_ptr<X509, X509Free> cert(
      PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
  ERR_clear_error();
  if (!cert) return make_error(key + ": '" + path + "' holds no PEM certificate");
  return cert;
}

Status write_private(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "wx");
  if (f == nullptr) return make_error("cannot create " + path + ": " + std::strerror(errno));
  ::fchmod(::fileno(f), 0600);
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) return make_error("cannot write " + path);
  return {};
}

}  // namespace

Status check_tls_files(const SipSettings& sip) {
  if (sip.tls_certificate.empty()) {
    return make_error("sip.tls_certificate: must name a PEM certificate file when sip.tls_listen "
                      "is on");
  }
  if (sip.tls_private_key.empty()) {
    return make_error("sip.tls_private_key: must name a PEM private key file when sip.tls_listen "
                      "is on");
  }
  auto cert_text = read_file("sip.tls_certificate", sip.tls_certificate);
  if (!cert_text) return cert_text.error();
  auto cert = first_certificate("sip.tls_certificate", sip.tls_certificate, *cert_text);
  if (!cert) return cert.error();
  if (X509_cmp_current_time(X509_get0_notAfter(cert->get())) < 0) {
    return make_error("sip.tls_certificate: '" + sip.tls_certificate + "' has expired");
  }
  auto key_text = read_file("sip.tls_private_key", sip.tls_private_key);
  if (!key_text) return key_text.error();
  auto bio = memory_bio(*key_text);
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  ERR_clear_error();
  if (!key) {
    return make_error("sip.tls_private_key: '" + sip.tls_private_key +
                      "' holds no unencrypted PEM private key");
  }
  if (X509_check_private_key(cert->get(), key.get()) != 1) {
    ERR_clear_error();
    return make_error("sip.tls_private_key: '" + sip.tls_private_key +
                      "' is not the key of the certificate in '" + sip.tls_certificate + "'");
  }
  if (!sip.tls_ca_file.empty()) {
    auto ca_text = read_file("sip.tls_ca_file", sip.tls_ca_file);
    if (!ca_text) return ca_text.error();
    if (auto ca = first_certificate("sip.tls_ca_file", sip.tls_ca_file, *ca_text); !ca) {
      return ca.error();
    }
  }
  return {};
}

Result<TlsCertificateDir> TlsCertificateDir::create(const SipSettings& sip) {
  if (auto status = check_tls_files(sip); !status) return status.error();
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                        "/chalkbot-tls-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {  // mode 0700
    return make_error("sip.tls_listen: cannot create a private directory for the TLS files: " +
                      std::string(std::strerror(errno)));
  }
  TlsCertificateDir dir;
  dir.path_ = pattern;
  // Read again: check_tls_files() read the same files a moment ago.
  auto key = read_file("sip.tls_private_key", sip.tls_private_key);
  auto cert = read_file("sip.tls_certificate", sip.tls_certificate);
  if (!key) return key.error();
  if (!cert) return cert.error();
  if (auto status = write_private(dir.path_ + "/agent.pem", *key + "\n" + *cert); !status) {
    return status.error();
  }
  if (!sip.tls_ca_file.empty()) {
    auto ca = read_file("sip.tls_ca_file", sip.tls_ca_file);
    if (!ca) return ca.error();
    if (auto status = write_private(dir.path_ + "/cafile.pem", *ca); !status) return status.error();
  }
  return dir;
}

TlsCertificateDir::TlsCertificateDir(TlsCertificateDir&& other) noexcept
    : path_(std::move(other.path_)) {
  other.path_.clear();
}

TlsCertificateDir::~TlsCertificateDir() {
  if (path_.empty()) return;
  ::unlink((path_ + "/agent.pem").c_str());
  ::unlink((path_ + "/cafile.pem").c_str());
  ::rmdir(path_.c_str());
}

Result<HostPort> parse_tls_listen(const std::string& text) {
  const auto bad = [&] {
    return make_error("sip.tls_listen: expected off or HOST:PORT (an IP address, IPv6 in "
                      "brackets, and a port 0-65535), got '" + text + "'");
  };
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad();
  HostPort out;
  out.host = text.substr(0, colon);
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
    unsigned char bytes[16];
    if (inet_pton(AF_INET6, out.host.c_str(), bytes) != 1) return bad();
  } else {
    unsigned char bytes[4];
    if (inet_pton(AF_INET, out.host.c_str(), bytes) != 1) return bad();
  }
  const std::string port = text.substr(colon + 1);
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || out.port < 0 ||
      out.port > 65535) {
    return bad();
  }
  return out;
}

}  // namespace chalkbot::sip
