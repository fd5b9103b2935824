#include "sip/invite_check.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include <sofia-sip/hostdomain.h>

#include "core/text.h"

namespace chalkbot::sip {
namespace {

// Text from the request, fit for a reason phrase and a log line: printable ASCII, not too long.
std::string printable(std::string_view text) { return "'" + printable_ascii(text, 64) + "'"; }

Refusal problem(int status, std::string_view what, const std::string& problem,
                std::string detail = {}) {
  return {status, "Bad " + std::string(what) + ": " + problem, false, std::move(detail)};
}


// The value of URI parameter `name`, if present ("" for a bare flag).
std::optional<std::string> param(const url_t* url, const char* name) {
  if (url->url_params == nullptr || url_have_param(url->url_params, name) == 0) {
    return std::nullopt;
  }
  char value[256] = {};
  const isize_t length = url_param(url->url_params, name, value, sizeof value);
  // Longer than any valid value: report it as such.
  if (length >= static_cast<isize_t>(sizeof value)) return std::string(sizeof value, '?');
  return std::string(value);
}

bool listed(std::string_view list, std::string_view item) {
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    if (list.substr(start, comma - start) == item) return true;
    start = comma + 1;
  }
  return false;
}

// Whitespace or a control character anywhere in a URI part. A URI has none (RFC 3261 25.1: they
// must be escaped), but sofia keeps a header folded inside a parameter ("...;tra\r\n nsport=udp")
// as it came, and the BYE it builds from such a Contact would carry the CRLF into our start line.
bool has_space_or_control(const char* part) {
  if (part == nullptr) return false;
  for (const char* c = part; *c != '\0'; ++c) {
    const auto byte = static_cast<unsigned char>(*c);
    if (byte <= 0x20 || byte == 0x7f) return true;
  }
  return false;
}

// An Accept header (list) that allows application/sdp; an empty one allows nothing.
bool accepts_sdp(const sip_accept_t* accept) {
  for (; accept != nullptr; accept = accept->ac_next) {
    if (accept->ac_type == nullptr) continue;
    const std::string type = ascii_lower(accept->ac_type);
    if (type == "application/sdp" || type == "application/*" || type == "*/*") return true;
  }
  return false;
}

}  // namespace

Refusal check_dialog_uri(const url_t* url, std::string_view what, std::string_view transports,
                            bool sips_ok) {
  if (url == nullptr) return problem(400, what, "no URI");
  const bool sip = url->url_type == url_sip;
  const bool sips = url->url_type == url_sips;
  if (!sip && !(sips && sips_ok)) {
    return {416, "Unsupported URI Scheme in " + std::string(what), false,
            "scheme " + printable(url->url_scheme != nullptr ? url->url_scheme : "")};
  }
  for (const char* part : {url->url_user, url->url_password, url->url_host, url->url_port,
                           url->url_params, url->url_headers}) {
    if (has_space_or_control(part)) {
      return problem(400, what, "whitespace or control character in the URI", printable(part));
    }
  }
  // RFC 3261 19.1.1: no URI headers in a dialog's Contact or Record-Route (the stack would copy
  // them into our requests).
  if (url->url_headers != nullptr) {
    return problem(400, what, "URI headers not allowed", "headers " + printable(url->url_headers));
  }
  if (url->url_host == nullptr || url->url_host[0] == '\0' || !host_is_valid(url->url_host)) {
    return problem(400, what, "no valid host",
                   "host " + printable(url->url_host != nullptr ? url->url_host : ""));
  }
  if (url->url_port != nullptr) {
    const std::string_view port = url->url_port;
    int number = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || number < 1 ||
        number > 65535) {
      return problem(400, what, "port out of range", "port " + printable(port));
    }
  }
  if (const auto transport = param(url, "transport")) {
    if (!listed(transports, ascii_lower(*transport))) {
      return problem(400, what, "transport not supported", "transport " + printable(*transport));
    }
  }
  if (const auto maddr = param(url, "maddr")) {
    if (maddr->empty() || !host_is_valid(maddr->c_str())) {
      return problem(400, what, "bad maddr", "maddr " + printable(*maddr));
    }
  }
  return {};
}

Refusal check_target_refresh(const sip_t* sip, std::string_view transports) {
  if (sip->sip_contact == nullptr) return {};
  if (sip->sip_contact->m_next != nullptr) {
    return {400, "Bad Contact: more than one", false, "a dialog has one remote target"};
  }
  return check_dialog_uri(sip->sip_contact->m_url, "Contact", transports);
}

Refusal check_invite(const sip_t* sip, std::string_view transports) {
  if (sip->sip_request == nullptr || sip->sip_request->rq_url->url_headers != nullptr) {
    return {400, "Bad Request-URI: URI headers not allowed", false, "RFC 3261 19.1.1"};
  }
  if (sip->sip_contact == nullptr) return {400, "Missing Contact", false, "an INVITE needs one"};
  if (Refusal refusal = check_target_refresh(sip, transports)) return refusal;
  for (const sip_record_route_t* rr = sip->sip_record_route; rr != nullptr; rr = rr->r_next) {
    if (Refusal refusal = check_dialog_uri(rr->r_url, "Record-Route", transports)) return refusal;
  }
  const bool has_body = sip->sip_payload != nullptr && sip->sip_payload->pl_len > 0;
  if (has_body && sip->sip_content_type != nullptr &&
      (sip->sip_content_type->c_type == nullptr ||
       ascii_lower(sip->sip_content_type->c_type) != "application/sdp")) {
    return {415, "Unsupported Media Type", true,
            "Content-Type " + printable(sip->sip_content_type->c_type != nullptr
                                         ? sip->sip_content_type->c_type : "")};
  }
  if (sip->sip_accept != nullptr && !accepts_sdp(sip->sip_accept)) {
    return {406, "Not Acceptable", false, "Accept has no application/sdp"};
  }
  return {};
}

}  // namespace chalkbot::sip
