#pragma once
// What an incoming INVITE must satisfy before we answer it, beyond what sofia's parser checks.
//
// Above all the URIs the dialog will later send requests to (the caller's Contact, each
// Record-Route entry): sofia cannot build a request to a URI it cannot route, and a BYE it could
// not build (after a 2xx that was never ACKed) made it retry without end until the stack
// overflowed (issue 15). So such an INVITE is refused before any dialog exists.
//
// Pure functions over sofia's parsed message (sip_t, url_t), any thread.
#include <string>
#include <string_view>

#include <sofia-sip/sip.h>
#include <sofia-sip/url.h>

namespace chalkbot::sip {

// Why we refuse a request; status 0 means we do not.
struct Refusal {
  int status = 0;      // 400, 406, 415, 416
  // The response's reason phrase, e.g. "Bad Contact: port out of range". One of a fixed set, never
  // text from the request: the phrase is kept for the stack, which does not copy it.
  std::string reason;
  bool accept_sdp = false;  // 415: the answer must carry "Accept: application/sdp"
  std::string detail;  // for the log: what in the request was wrong, e.g. "port '0'"
  explicit operator bool() const { return status != 0; }
};

// Whether in-dialog requests can be sent to `url`: a sip: URI (sips: only when `sips_ok`, i.e. we
// have TLS), without URI headers, with a valid host, a port in 1..65535 if given, a transport=
// among `transports` (a comma list as in sip.transports: "udp,tcp") and a valid maddr=. `what` names the header in the
// reason ("Contact", "Record-Route"). 416 for another scheme, 400 for the rest.
Refusal check_dialog_uri(const url_t* url, std::string_view what, std::string_view transports,
                         bool sips_ok = false);

// An initial INVITE, in this order: the Request-URI carries no URI headers (RFC 3261 19.1.1,
// RFC 4475 3.1.2.11: 400); exactly one Contact, usable by check_dialog_uri, and every
// Record-Route entry too (400/416); a body is application/sdp (415 + Accept, RFC 3261 21.4.16);
// an Accept header lets us answer with application/sdp (406, RFC 4475 3.3.14).
Refusal check_invite(const sip_t* sip, std::string_view transports);

// The Contact of a re-INVITE or UPDATE (a target refresh): absent is fine, else as above.
Refusal check_target_refresh(const sip_t* sip, std::string_view transports);

}  // namespace chalkbot::sip
