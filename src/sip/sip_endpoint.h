#pragma once
// SIP signalling on sofia-sip nua. One thread (the "sip" thread) owns the stack: it runs su_root,
// makes every nua_* call and runs every callback below. Other threads reach it through the public
// methods, which only post a command (su_msg) and return.
//
// Media is not handled here: calls carry our/their RTP address and codec as negotiated in SDP.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/settings.h"
#include "sip/sdes.h"
#include "sip/sdp.h"

namespace chalkbot::sip {

using CallId = std::uint64_t;  // ours, unique per endpoint, never 0

// SDES-SRTP keys of a call (media.srtp), for its media session. Empty suite: plain RTP.
struct SrtpKeys {
  std::string suite;  // "AES_CM_128_HMAC_SHA1_80" or "..._32"
  SrtpKeySalt send_key{};     // ours, as in our answer's a=crypto
  SrtpKeySalt receive_key{};  // the caller's, from its offer
};

struct IncomingCall {
  CallId id = 0;
  std::string call_id;  // SIP Call-ID
  std::string from_uri;
  std::string to_uri;
  std::string source_ip;  // where the INVITE came from (transport source, not Via)
  int source_port = 0;
  RemoteMedia remote;  // from the SDP offer
  Codec codec;         // the codec chosen from media.codecs (the first the caller also offered)
  SrtpKeys srtp;       // set when the offer and media.srtp agreed on SRTP
};

// Our end of the RTP stream, as put into an SDP answer.
struct LocalMedia {
  std::string ip;  // '' = sip.public_address, or sip.bind_address when that is empty
  int rtp_port = 0;
  Codec codec;     // normally IncomingCall::codec; must be one the caller offered
  // Normally IncomingCall::remote.telephone_event_for(codec); payload_type -1 = no DTMF.
  TelephoneEvent telephone_event;
};

struct Admission {
  enum class Kind { kAccept, kReject, kDefer };
  Kind kind = Kind::kReject;
  LocalMedia media;  // kAccept
  int status = 480;  // kReject
  std::string reason;

  // 200 OK with our SDP answer now.
  static Admission accept(LocalMedia media);
  // Final error response (4xx-6xx).
  static Admission reject(int status, std::string reason = {});
  // 180 Ringing now; the application later calls SipEndpoint::answer() or reject().
  static Admission defer();
};

enum class EndReason {
  kRemoteBye,      // the caller hung up
  kCancelled,      // CANCEL before we answered (the stack answered 487)
  kLocalHangup,    // hangup() or reject() after defer
  kTimeout,        // session timer expired or no ACK: the stack sent BYE itself
  kTransportError, // BYE/refresh failed at the transport, or the dialog died with an error
  kShutdown,       // shutdown() ended it
};
const char* to_string(EndReason reason);

// How a transfer we asked for (SipEndpoint::transfer, a REFER) is going.
struct TransferProgress {
  enum class Stage {
    kAccepted,   // the caller's phone took the REFER (202) and is calling the new party
    kSucceeded,  // it reports the new call answered (NOTIFY with a 2xx sipfrag): we may hang up
    kFailed,     // the REFER was refused, or the new call failed: the call is still ours
  };
  Stage stage = Stage::kFailed;
  int status = 0;  // the REFER's answer, or the new call's status from the NOTIFY
  std::string phrase;
};

struct CallEnd {
  EndReason reason = EndReason::kRemoteBye;
  int status = 0;  // SIP status of the last event, where there is one
  std::string phrase;
};

// Incoming calls (UAS). Every method runs ON THE SIP THREAD: it must not block (post work to
// your own threads); it may call SipEndpoint's methods (they only post). For each call on_invite
// comes first; if it was accepted or deferred exactly one on_ended follows.
class CallHandler {
 public:
  virtual ~CallHandler() = default;
  virtual Admission on_invite(const IncomingCall& call) = 0;
  // ACK received: media may flow both ways.
  virtual void on_established(CallId id) = 0;
  // re-INVITE/UPDATE with a new offer (hold/resume, new address); already answered, same codec.
  virtual void on_media_changed(CallId id, const RemoteMedia& remote) = 0;
  virtual void on_ended(CallId id, const CallEnd& end) = 0;
  // Progress of a transfer asked for with SipEndpoint::transfer(): kAccepted first (unless it
  // failed at once), then one of kSucceeded or kFailed, unless the call ends first.
  virtual void on_transfer(CallId id, const TransferProgress& progress) { (void)id, (void)progress; }
  // A response we sent (to any request, in or out of a call): for counting.
  virtual void on_response_sent(int status) { (void)status; }
  // An INVITE refused 488 by media.srtp (plain RTP while SRTP is required, no usable a=crypto).
  virtual void on_srtp_refused() {}
};

// Outgoing calls (UAC), one handler per call. Same threading contract as CallHandler. Each call
// ends with exactly one of on_failed (no answer: error status, or 487 after a local hangup) or
// on_ended (after on_answered).
class OutgoingCallHandler {
 public:
  virtual ~OutgoingCallHandler() = default;
  virtual void on_ringing(CallId id) { (void)id; }
  // 2xx with the far end's SDP answer; `codec` is the one it picked from our offer, `srtp` the
  // keys when it took our SDES-SRTP offer (media.srtp), else an empty suite.
  virtual void on_answered(CallId id, const RemoteMedia& remote, const Codec& codec,
                           const SrtpKeys& srtp) = 0;
  virtual void on_failed(CallId id, int status, const std::string& phrase) = 0;
  virtual void on_media_changed(CallId id, const RemoteMedia& remote) { (void)id, (void)remote; }
  virtual void on_ended(CallId id, const CallEnd& end) = 0;
};

struct OfferMedia {
  std::string ip;  // '' = as for LocalMedia
  int rtp_port = 0;
  std::vector<Codec> codecs;  // preference order; empty = media.codecs
  int telephone_event_pt = 101;  // -1 = do not offer DTMF events
  // SDES-SRTP to offer: kRequired RTP/SAVP with a=crypto (an answer without our key fails the
  // call, 488), kOptional a=crypto on RTP/AVP ("best effort"), kOff plain RTP.
  SrtpMode srtp = SrtpMode::kOff;
};

struct RegistrationState {
  bool enabled = false;     // sip.register_uri set
  bool registered = false;
  int last_status = 0;      // last final response to REGISTER (0 = none yet)
  std::string last_phrase;
  int attempts = 0;         // REGISTER requests answered so far, challenges included
};

class SipEndpoint {
 public:
  // `handler` must outlive the endpoint. Nothing starts until start().
  SipEndpoint(SipSettings sip, MediaSettings media, CallHandler& handler);
  ~SipEndpoint();  // shutdown() if still running
  SipEndpoint(const SipEndpoint&) = delete;
  SipEndpoint& operator=(const SipEndpoint&) = delete;

  // Binds UDP/TCP on sip.bind_address:sip.port (port 0: a free port) and TLS on sip.tls_listen
  // (after checking its certificate files), starts the sip thread and REGISTERs when configured.
  // Returns once listening or failed. Call once, from one thread.
  Status start();
  int port() const;  // the bound port, after start() succeeded
  int tls_port() const;  // the TLS listener's port (sip.tls_listen), 0 when off

  // Commands: any thread (including handlers on the sip thread); they post and return. Unknown or
  // finished ids are ignored.
  // Answered call: BYE. Deferred incoming call: 480. Outgoing call not yet answered: CANCEL.
  void hangup(CallId id);
  void answer(CallId id, LocalMedia media);  // a deferred incoming call: 200 + SDP answer
  void reject(CallId id, int status, std::string reason = {});  // a deferred incoming call
  void stop_accepting();  // new INVITEs get 503 + Retry-After from now on
  // An answered incoming call: blind transfer to `target_uri` (REFER, RFC 3515). The call stays
  // up; progress comes on CallHandler::on_transfer, and the caller hangs up when done.
  void transfer(CallId id, std::string target_uri);

  // Sends an INVITE with our SDP offer to `target_uri` (sip:user@host[:port]). The id is valid at
  // once; progress arrives on `handler` (kept alive until the call's final callback).
  Result<CallId> place_call(const std::string& target_uri, OfferMedia media,
                            std::shared_ptr<OutgoingCallHandler> handler);

  // Blocking: stop accepting, BYE/CANCEL every call (on_ended kShutdown), un-REGISTER, shut the
  // stack down (bounded by a few seconds) and join the sip thread. Not from the sip thread.
  void shutdown();

  // Any thread.
  RegistrationState registration() const;
  std::size_t active_calls() const;  // incoming calls offered to the handler and not ended

  class Stack;  // the sip thread's state (sip_endpoint.cc)

 private:
  std::unique_ptr<Stack> stack_;
};

}  // namespace chalkbot::sip
