// SipEndpoint: who may ask what. Scanners and over-rate sources are refused before anything
// else, digest authentication of INVITEs, and OPTIONS (keepalives, load-balancer probes).
#include "sip/sip_endpoint_stack.h"

#include <arpa/inet.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace chalkbot::sip {

std::pair<std::string, int> SipEndpoint::Stack::request_source() const {
  msg_t* msg = nua_current_request(nua_);
  su_addrinfo_t* ai = msg != nullptr ? msg_addrinfo(msg) : nullptr;
  if (ai == nullptr || ai->ai_addr == nullptr) return {"", 0};
  char text[INET6_ADDRSTRLEN] = {};
  const auto* su = reinterpret_cast<const su_sockaddr_t*>(ai->ai_addr);
  if (su->su_family == AF_INET6) {
    inet_ntop(AF_INET6, &su->su_sin6.sin6_addr, text, sizeof text);
    return {text, ntohs(su->su_sin6.sin6_port)};
  }
  inet_ntop(AF_INET, &su->su_sin.sin_addr, text, sizeof text);
  return {text, ntohs(su->su_sin.sin_port)};
}

int SipEndpoint::Stack::screen_out_of_dialog(const sip_t* sip, const std::string& source_ip) {
  const char* agent = sip != nullptr && sip->sip_user_agent != nullptr
                          ? sip->sip_user_agent->g_string : nullptr;
  if (agent != nullptr && scanners_.matches(agent)) {
    spdlog::debug("sip: scanner '{}' from {} refused", agent, source_ip);
    return 403;
  }
  // Charged before the allowlist, so a flood from anywhere costs a 503 and nothing more.
  if (!limiter_.admit(source_ip)) {
    spdlog::debug("sip: {} over sip.rate_limit_per_s: 503", source_ip);
    return 503;
  }
  return 0;
}

void SipEndpoint::Stack::refuse(nua_handle_t* nh, int status, bool in_callback) {
  const std::string retry = std::to_string(sip_.retry_after_s);
  respond(nh, status, sip_status_phrase(status),
              TAG_IF(status == 503, SIPTAG_RETRY_AFTER_STR(retry.c_str())),
              TAG_IF(in_callback, NUTAG_WITH_THIS(nua_)), TAG_END());
}

bool SipEndpoint::Stack::authenticated(nua_handle_t* nh, const sip_t* sip) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  auto verdict = DigestAuth::Verdict::kBad;
  if (const msg_auth_t* auth = sip->sip_authorization;
      auth != nullptr && auth->au_scheme != nullptr && su_casematch(auth->au_scheme, "Digest")) {
    std::map<std::string, std::string> params;
    for (const msg_param_t* p = auth->au_params; p != nullptr && *p != nullptr; ++p) {
      const std::string item = *p;
      const auto eq = item.find('=');
      if (eq == std::string::npos) continue;
      std::string value = item.substr(eq + 1);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        std::vector<char> plain(value.size() + 1);
        value = msg_unquote(plain.data(), value.c_str()) != nullptr ? plain.data() : "";
      }
      params[item.substr(0, eq)] = value;
    }
    verdict = auth_.verify(params, "INVITE", now);
  }
  if (verdict == DigestAuth::Verdict::kOk) return true;
  const std::string challenge = auth_.challenge(now, verdict == DigestAuth::Verdict::kStale);
  respond(nh, SIP_401_UNAUTHORIZED, SIPTAG_WWW_AUTHENTICATE_STR(challenge.c_str()), TAG_END());
  return false;
}

void SipEndpoint::Stack::incoming_options(int status, nua_handle_t* nh, Call* call,
                                          const sip_t* sip) {
  if (status >= 200) {  // the stack answered it already (a malformed request)
    if (call == nullptr) nua_handle_destroy(nh);
    return;
  }
  if (call == nullptr) {
    // Outside a dialog: a keepalive, a monitor, or a scanner's first probe.
    if (const int refusal = screen_out_of_dialog(sip, request_source().first); refusal != 0) {
      refuse(nh, refusal, true);
      nua_handle_destroy(nh);
      return;
    }
  }
  // A load balancer probes with OPTIONS: a draining node must look unavailable (503).
  if (accepting_) {
    respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua_), TAG_END());
  } else {
    refuse(nh, 503, true);
  }
  if (call == nullptr) nua_handle_destroy(nh);
}

}  // namespace chalkbot::sip
