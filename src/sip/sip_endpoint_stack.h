#pragma once
// The sip thread's side of SipEndpoint: the stack's state (SipEndpoint::Stack) and one dialog
// (Call). Private to src/sip/. Its methods live in one file per concern:
//   sip_endpoint.cc               start, the event loop and its dispatch, shutdown, the facade
//   sip_endpoint_dialogs.cc       incoming and outgoing calls: offer/answer, state, hang-up
//   sip_endpoint_access.cc        who may ask what: scanners, rate limit, digest auth, OPTIONS
//   sip_endpoint_registration.cc  REGISTER towards sip.register_uri
//   sip_endpoint_transfer.cc      blind transfer (REFER and its NOTIFYs)
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sip/access.h"
#include "sip/digest.h"
#include "sip/rate_limit.h"
#include "sip/sip_endpoint.h"

namespace chalkbot::sip {
struct Call;
}  // namespace chalkbot::sip

// Typed magic pointers for sofia's callbacks (must come before its headers).
#define SU_ROOT_MAGIC_T chalkbot::sip::SipEndpoint::Stack
#define NUA_MAGIC_T chalkbot::sip::SipEndpoint::Stack
#define NUA_HMAGIC_T chalkbot::sip::Call
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nta_tag.h>
#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_string.h>
#include <sofia-sip/su_tag_io.h>
#include <sofia-sip/su_wait.h>

namespace chalkbot::sip {

inline constexpr std::size_t kMaxSdpBytes = 16 * 1024;  // a rich WebRTC-style offer is under 10 KB

// "[::1]" for an IPv6 address, the address itself otherwise (URIs, Warning headers).
std::string url_host(const std::string& ip);
// "sip:user@host:port;params" -> "host" ("[v6]" for IPv6).
std::string registrar_host(const std::string& registrar);
// The message body, '' when there is none.
std::string payload_of(const sip_t* sip);
std::string url_text(su_home_t* home, const url_t* url);

// One dialog, owned by Stack::calls_, touched only on the sip thread.
struct Call {
  enum class State { kDeferred, kAnswered, kEstablished, kCalling, kEnding };
  CallId id = 0;
  bool outgoing = false;
  State state = State::kDeferred;
  nua_handle_t* nh = nullptr;
  LocalSdp local;
  Codec codec;
  std::vector<Codec> offered;  // outgoing: what our offer listed
  bool established_reported = false;
  bool answered = false;  // outgoing: 2xx seen
  bool local_bye = false;
  bool transferring = false;  // a REFER of ours awaits its outcome
  bool have_reason = false;
  // Our Contact when the stack's would not do: see tls_contact().
  std::string contact;
  bool srtp = false;  // SDES-SRTP negotiated: the keys below are the call's for its whole life
  CryptoAttribute srtp_local;
  CryptoAttribute srtp_remote;
  CallEnd end;
  std::shared_ptr<OutgoingCallHandler> out;
};

class SipEndpoint::Stack {
 public:
  Stack(SipSettings sip, MediaSettings media, CallHandler& handler)
      : sip_(std::move(sip)),
        media_(std::move(media)),
        handler_(handler),
        callers_(""),
        scanners_(sip_.scanner_user_agents),
        limiter_(sip_.rate_limit_per_s, sip_.rate_limit_burst),
        auth_(sip_.auth_user, sip_.auth_password, sip_.auth_realm) {}

  ~Stack() { shutdown(); }

  Status start();
  void shutdown();
  int port() const { return port_; }
  int tls_port() const { return tls_port_; }

  // Runs `fn` on the sip thread. False if the stack is not running.
  bool post(std::function<void()> fn);

  CallId next_id() { return next_id_.fetch_add(1); }
  std::size_t active_calls() const { return active_incoming_.load(); }
  RegistrationState registration() const {
    std::lock_guard lock(reg_mutex_);
    return reg_state_;
  }

  // sip thread only, below.
  void do_hangup(CallId id, EndReason reason);
  void do_answer(CallId id, const LocalMedia& media);
  void do_reject(CallId id, int status, const std::string& reason);
  void do_transfer(CallId id, const std::string& target);
  void do_place_call(CallId id, const std::string& target, const OfferMedia& media,
                     std::shared_ptr<OutgoingCallHandler> handler);
  void begin_shutdown();
  void stop_accepting_now() { accepting_ = false; }

  const SipSettings& sip_settings() const { return sip_; }
  const std::vector<Codec>& codecs() const { return codecs_; }

 private:
  void run(std::promise<Status>& ready);
  static void on_wakeup(SU_ROOT_MAGIC_T* self, su_msg_r msg, su_msg_arg_t* arg);
  static void on_event(nua_event_t event, int status, char const* phrase, nua_t* nua,
                       NUA_MAGIC_T* self, nua_handle_t* nh, NUA_HMAGIC_T* call, sip_t const* sip,
                       tagi_t tags[]);
  static void on_shutdown_tick(SU_ROOT_MAGIC_T* self, su_timer_t* timer, su_timer_arg_t* arg);
  void event(nua_event_t event, int status, const char* phrase, nua_handle_t* nh, Call* call,
             const sip_t* sip, tagi_t tags[]);

  void incoming_invite(int status, nua_handle_t* nh, const sip_t* sip);
  void incoming_options(int status, nua_handle_t* nh, Call* call, const sip_t* sip);
  // Where the request being reported came from (transport source, not Via): ip, port.
  std::pair<std::string, int> request_source() const;
  // Scanners and over-rate sources, before anything else looks at the request: the status to
  // refuse it with (403 or 503), or 0 to go on.
  int screen_out_of_dialog(const sip_t* sip, const std::string& source_ip);
  void refuse(nua_handle_t* nh, int status, bool in_callback);
  // sip.auth_user set: true when the INVITE carries valid credentials, else sends 401.
  bool authenticated(nua_handle_t* nh, const sip_t* sip);
  void reoffer(Call& call, nua_handle_t* nh, const sip_t* sip, bool is_update);
  // Why a re-offer cannot be taken by the call's transport ('' = it can): an SRTP call must keep
  // the caller's key (the media session cannot re-key), a plain call must stay plain.
  std::string srtp_reoffer_problem(Call& call, const RemoteMedia& remote);
  void outgoing_invite_result(Call& call, int status, const char* phrase, const sip_t* sip);
  void call_state(Call& call, int status, const char* phrase, tagi_t tags[]);
  void refer_answered(Call& call, int status, const char* phrase);
  void refer_notified(Call& call, int status, const char* phrase, const sip_t* sip);
  void transfer_over(Call& call, TransferProgress::Stage stage, int status, std::string phrase);
  void start_registration();  // the first REGISTER (sip.register_uri is set)
  void register_result(int status, const char* phrase, const sip_t* sip);
  // `in_callback`: answer the request being reported now (re-INVITE/UPDATE), not the INVITE.
  void respond_sdp(nua_handle_t* nh, int status, const char* phrase, const std::string& sdp,
                   bool in_callback = false, const std::string& contact = {});
  // For an INVITE that came over TLS to a sip: (not sips:) URI, our Contact as
  // <sip:...;transport=tls>. The stack would put its TLS listener's sips: URI there, which
  // RFC 3261 asks for only when the request was sips:, and which common phones (baresip, for one)
  // cannot send their ACK or BYE to. '' = the stack's.
  std::string tls_contact(const sip_t* sip) const;
  // Every response we send goes through here, so the handler sees it (and the server counts it).
  // Responses the stack sends by itself, such as 100 Trying and the 200 to a BYE, are not seen.
  template <class... Tags>
  void respond(nua_handle_t* nh, int status, const char* phrase, Tags... tags) {
    handler_.on_response_sent(status);
    nua_respond(nh, status, phrase, tags...);
  }
  void finish(Call& call);  // reports the end, destroys the handle, forgets the call
  void send_bye(Call& call);  // at most once per call; the call is ending from here on
  // `phrase` as a pointer that stays valid: nua_respond() keeps the reason phrase's pointer, not a
  // copy, until the stack sends the response. Only for phrases from a small set (ours, the
  // application's), never for text from a request.
  const char* lasting(const std::string& phrase) { return phrases_.insert(phrase).first->c_str(); }
  std::string advertised(const std::string& ip) const;
  std::string sdp_for(Call& call);
  void set_reason(Call& call, EndReason reason, int status, const char* phrase);
  void maybe_stop_stack();

  SipSettings sip_;
  MediaSettings media_;
  CallHandler& handler_;
  std::vector<Codec> codecs_;
  NetworkList networks_;
  CallerFilter callers_;
  ScannerFilter scanners_;
  SourceRateLimiter limiter_;
  DigestAuth auth_;
  int port_ = 0;
  int tls_port_ = 0;  // 0: no TLS listener
  std::string tls_host_;
  // The transports a dialog's URIs may name: sip.transports, plus tls with a TLS listener.
  std::string dialog_transports_;
  SrtpMode srtp_mode_ = SrtpMode::kOff;

  std::thread thread_;
  std::mutex queue_mutex_;  // guards queue_, running_ and the root pointer for posters
  std::deque<std::function<void()>> queue_;
  bool running_ = false;
  std::atomic<bool> shutdown_started_{false};

  su_home_t home_[1] = {};
  su_root_t* root_ = nullptr;
  nua_t* nua_ = nullptr;
  su_timer_t* shutdown_timer_ = nullptr;
  std::chrono::steady_clock::time_point shutdown_at_;
  bool nua_shutdown_sent_ = false;
  bool nua_shutdown_done_ = false;
  bool unregister_pending_ = false;

  std::unordered_map<CallId, std::unique_ptr<Call>> calls_;
  std::set<std::string> phrases_;  // see lasting()
  bool accepting_ = true;
  std::atomic<CallId> next_id_{1};
  std::atomic<std::size_t> active_incoming_{0};

  nua_handle_t* reg_nh_ = nullptr;
  int reg_challenges_ = 0;  // consecutive 401/407s; a second one means bad credentials
  mutable std::mutex reg_mutex_;
  RegistrationState reg_state_;
};

}  // namespace chalkbot::sip
