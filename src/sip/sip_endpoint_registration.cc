// SipEndpoint: REGISTER towards sip.register_uri, answering one digest challenge.
#include "sip/sip_endpoint_stack.h"

#include <spdlog/spdlog.h>

#include <string>

namespace chalkbot::sip {
namespace {

// "sip:host:port;params" -> "sip:user@host" for the REGISTER To/From.
std::string aor_for(const std::string& registrar, const std::string& user) {
  const std::string scheme = registrar.rfind("sips:", 0) == 0 ? "sips:" : "sip:";
  return scheme + (user.empty() ? std::string("chalkbot") : user) + "@" +
         registrar_host(registrar);
}

}  // namespace

std::string registrar_host(const std::string& registrar) {
  std::string rest = registrar.substr(registrar.find(':') + 1);
  if (const auto at = rest.find('@'); at != std::string::npos) rest = rest.substr(at + 1);
  rest = rest.substr(0, rest.find(';'));
  if (!rest.empty() && rest[0] == '[') return rest.substr(0, rest.find(']') + 1);
  return rest.substr(0, rest.find(':'));
}

void SipEndpoint::Stack::start_registration() {
  const std::string aor = aor_for(sip_.register_uri, sip_.register_user);
  reg_nh_ = nua_handle(nua_, nullptr, SIPTAG_TO_STR(aor.c_str()), SIPTAG_FROM_STR(aor.c_str()),
                       TAG_END());
  const std::string expires = std::to_string(sip_.register_expires_s);
  const char* user = sip_.register_user.empty() ? "chalkbot" : sip_.register_user.c_str();
  nua_register(reg_nh_, NUTAG_REGISTRAR(URL_STRING_MAKE(sip_.register_uri.c_str())),
               NUTAG_M_USERNAME(user), SIPTAG_EXPIRES_STR(expires.c_str()), TAG_END());
}

void SipEndpoint::Stack::register_result(int status, const char* phrase, const sip_t* sip) {
  if (status < 200) return;
  bool registered = false;
  if ((status == 401 || status == 407) && sip != nullptr && reg_challenges_ == 0 &&
      !shutdown_started_.load()) {
    const msg_auth_t* auth = status == 401 ? sip->sip_www_authenticate
                                           : sip->sip_proxy_authenticate;
    const char* realm = auth != nullptr ? msg_params_find(auth->au_params, "realm=") : nullptr;
    if (auth != nullptr && realm != nullptr) {
      ++reg_challenges_;
      const std::string credentials = std::string(auth->au_scheme) + ":" + realm + ":" +
                                      sip_.register_user + ":" + sip_.register_password;
      nua_authenticate(reg_nh_, NUTAG_AUTH(credentials.c_str()), TAG_END());
    }
  } else {
    reg_challenges_ = 0;
    registered = status < 300 && !shutdown_started_.load();
  }
  std::lock_guard lock(reg_mutex_);
  reg_state_.attempts += 1;
  reg_state_.last_status = status;
  reg_state_.last_phrase = phrase != nullptr ? phrase : "";
  reg_state_.registered = registered;
  if (status >= 300 && status != 401 && status != 407) {
    spdlog::warn("sip: REGISTER to {} failed: {} {}", sip_.register_uri, status,
                 reg_state_.last_phrase);
  }
}

}  // namespace chalkbot::sip
