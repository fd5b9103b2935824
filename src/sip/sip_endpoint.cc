#include "sip/sip_endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <future>
#include <set>
#include <mutex>
#include <thread>
#include <tuple>
#include <utility>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "sip/access.h"
#include "sip/digest.h"
#include "sip/invite_check.h"
#include "sip/rate_limit.h"

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
namespace {

// What we implement; sofia's defaults (100rel, MESSAGE, SUBSCRIBE ...) are trimmed to this.
// NOTIFY: the outcome of a transfer we asked for.
constexpr const char* kAllow = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, NOTIFY";
constexpr const char* kSupported = "timer";
constexpr unsigned kMaxMessageBytes = 64 * 1024;
constexpr std::size_t kMaxSdpBytes = 16 * 1024;  // a rich WebRTC-style offer is under 10 KB
constexpr auto kShutdownWait = std::chrono::milliseconds(2000);  // BYEs and un-REGISTER
constexpr auto kStackShutdownWait = std::chrono::milliseconds(3000);

// A port free for both UDP and TCP on `address` (sofia binds both to the same port).
Result<int> pick_free_port(const std::string& address) {
  const bool v6 = address.find(':') != std::string::npos;
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int udp = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    if (udp < 0) return make_error("socket() failed");
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      if (inet_pton(AF_INET6, address.c_str(), &a->sin6_addr) != 1) {
        ::close(udp);
        return make_error("bad sip.bind_address '" + address + "'");
      }
      len = sizeof(sockaddr_in6);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      if (inet_pton(AF_INET, address.c_str(), &a->sin_addr) != 1) {
        ::close(udp);
        return make_error("bad sip.bind_address '" + address + "'");
      }
      len = sizeof(sockaddr_in);
    }
    auto* sa = reinterpret_cast<sockaddr*>(&ss);
    if (::bind(udp, sa, len) != 0 || ::getsockname(udp, sa, &len) != 0) {
      ::close(udp);
      return make_error("cannot bind a UDP port on " + address);
    }
    const int tcp = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    const bool tcp_ok = tcp >= 0 && ::bind(tcp, sa, len) == 0;
    if (tcp >= 0) ::close(tcp);
    ::close(udp);
    const std::uint16_t port = v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                  : reinterpret_cast<sockaddr_in*>(&ss)->sin_port;
    if (tcp_ok) return static_cast<int>(ntohs(port));
  }
  return make_error("no port free for both UDP and TCP on " + address);
}

std::string url_host(const std::string& ip) {
  return ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
}

std::string payload_of(const sip_t* sip) {
  if (sip == nullptr || sip->sip_payload == nullptr || sip->sip_payload->pl_data == nullptr) {
    return {};
  }
  return std::string(sip->sip_payload->pl_data, sip->sip_payload->pl_len);
}

std::string url_text(su_home_t* home, const url_t* url) {
  if (url == nullptr) return {};
  char* s = url_as_string(home, url);
  std::string out = s != nullptr ? s : "";
  su_free(home, s);
  return out;
}

// "sip:host:port;params" -> "sip:user@host" for the REGISTER To/From.
std::string aor_for(const std::string& registrar, const std::string& user) {
  std::string rest = registrar;
  std::string scheme = "sip:";
  if (rest.rfind("sips:", 0) == 0) scheme = "sips:";
  rest = rest.substr(rest.find(':') + 1);
  if (const auto at = rest.find('@'); at != std::string::npos) rest = rest.substr(at + 1);
  rest = rest.substr(0, rest.find(';'));
  if (rest.empty() || rest[0] != '[') rest = rest.substr(0, rest.find(':'));
  return scheme + (user.empty() ? std::string("chalkbot") : user) + "@" + rest;
}

}  // namespace

const char* to_string(EndReason reason) {
  switch (reason) {
    case EndReason::kRemoteBye: return "remote-bye";
    case EndReason::kCancelled: return "cancelled";
    case EndReason::kLocalHangup: return "local-hangup";
    case EndReason::kTimeout: return "timeout";
    case EndReason::kTransportError: return "transport-error";
    case EndReason::kShutdown: return "shutdown";
  }
  return "unknown";
}

Admission Admission::accept(LocalMedia media) {
  Admission a;
  a.kind = Kind::kAccept;
  a.media = std::move(media);
  a.status = 200;
  return a;
}

Admission Admission::reject(int status, std::string reason) {
  Admission a;
  a.kind = Kind::kReject;
  a.status = status;
  a.reason = std::move(reason);
  return a;
}

Admission Admission::defer() {
  Admission a;
  a.kind = Kind::kDefer;
  a.status = 180;
  return a;
}

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
  void outgoing_invite_result(Call& call, int status, const char* phrase, const sip_t* sip);
  void call_state(Call& call, int status, const char* phrase, tagi_t tags[]);
  void refer_answered(Call& call, int status, const char* phrase);
  void refer_notified(Call& call, int status, const char* phrase, const sip_t* sip);
  void transfer_over(Call& call, TransferProgress::Stage stage, int status, std::string phrase);
  void register_result(int status, const char* phrase, const sip_t* sip);
  // `in_callback`: answer the request being reported now (re-INVITE/UPDATE), not the INVITE.
  void respond_sdp(nua_handle_t* nh, int status, const char* phrase, const std::string& sdp,
                   bool in_callback = false);
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

Status SipEndpoint::Stack::start() {
  auto codecs = parse_codec_list(media_.codecs);
  if (!codecs) return make_error("media.codecs: " + codecs.error().message);
  codecs_ = *codecs;
  auto networks = NetworkList::parse(sip_.allow_networks);
  if (!networks) return make_error("sip.allow_networks: " + networks.error().message);
  networks_ = *networks;
  callers_ = CallerFilter(sip_.allow_callers);
  if (!sip_.auth_user.empty() && sip_.auth_password.empty()) {
    return make_error("sip.auth_user is set but its password is not (CHALKBOT_SIP_AUTH_PASSWORD)");
  }
  if (sip_.timer_t2_ms < sip_.timer_t1_ms) {
    return make_error("sip.timer_t2_ms must be at least sip.timer_t1_ms");
  }
  const std::string adv = sip_.public_address.empty() ? sip_.bind_address : sip_.public_address;
  if (adv == "0.0.0.0" || adv == "::" || adv.empty()) {
    return make_error("sip.public_address must be set when sip.bind_address is a wildcard");
  }
  port_ = sip_.port;
  if (port_ == 0) {
    auto free = pick_free_port(sip_.bind_address);
    if (!free) return free.error();
    port_ = *free;
  }
  reg_state_.enabled = !sip_.register_uri.empty();

  std::promise<Status> ready;
  auto result = ready.get_future();
  thread_ = std::thread([this, &ready] { run(ready); });
  Status status = result.get();
  if (!status) thread_.join();
  return status;
}

void SipEndpoint::Stack::run(std::promise<Status>& ready) {
  su_init();
  su_home_init(home_);
  root_ = su_root_create(this);
  if (root_ == nullptr) {
    su_home_deinit(home_);
    su_deinit();
    ready.set_value(make_error("su_root_create failed"));
    return;
  }
  std::string url = "sip:" + url_host(sip_.bind_address) + ":" + std::to_string(port_);
  if (sip_.transports == "udp" || sip_.transports == "tcp") url += ";transport=" + sip_.transports;
  const std::string adv = advertised("");
  const std::string from = "<sip:chalkbot@" + url_host(adv) + ">";
  nua_ = nua_create(root_, &Stack::on_event, this,
                    NUTAG_URL(url.c_str()),
                    NUTAG_MEDIA_ENABLE(0),  // our own SDP (sdp.h), no soa
                    NUTAG_AUTOALERT(0), NUTAG_AUTOANSWER(0), NUTAG_AUTOACK(1),
                    NUTAG_ENABLEMESSAGE(0), NUTAG_ENABLEMESSENGER(0),
                    NUTAG_APPL_METHOD("UPDATE"),  // we answer UPDATE offers ourselves
                    NUTAG_APPL_METHOD("OPTIONS"),  // and OPTIONS: rate limit, scanners
                    NUTAG_SESSION_TIMER(static_cast<unsigned>(sip_.session_expires_s)),
                    NUTAG_MIN_SE(90),
                    // Refreshing needs a new offer, so leave it to the caller where we may.
                    NUTAG_SESSION_REFRESHER(nua_remote_refresher),
                    NUTAG_UPDATE_REFRESH(1),
                    // No outbound keepalive OPTIONS/validation probes towards the registrar.
                    NUTAG_OUTBOUND("no-options-keepalive no-validate"),
                    // Nothing we take is near this big; larger messages are refused unread.
                    NTATAG_MAXSIZE(kMaxMessageBytes),
                    // RFC 3261 timers. 64*T1 is how long a transaction (and an answered call's
                    // wait for its ACK) lasts; tests shorten it.
                    NTATAG_SIP_T1(static_cast<unsigned>(sip_.timer_t1_ms)),
                    NTATAG_SIP_T1X64(64u * static_cast<unsigned>(sip_.timer_t1_ms)),
                    NTATAG_SIP_T2(static_cast<unsigned>(sip_.timer_t2_ms)),
                    NTATAG_SIP_T4(static_cast<unsigned>(sip_.timer_t4_ms)),
                    SIPTAG_ALLOW_STR(kAllow),
                    SIPTAG_SUPPORTED_STR(sip_.session_expires_s > 0 ? kSupported : ""),
                    SIPTAG_ACCEPT_STR("application/sdp"),
                    SIPTAG_USER_AGENT_STR(sip_.user_agent.c_str()),
                    SIPTAG_SERVER_STR(sip_.user_agent.c_str()),
                    SIPTAG_FROM_STR(from.c_str()),
                    TAG_END());
  if (nua_ == nullptr) {
    su_root_destroy(root_);
    root_ = nullptr;
    su_home_deinit(home_);
    su_deinit();
    ready.set_value(make_error("cannot listen for SIP on " + url + " (port in use?)"));
    return;
  }
  {
    std::lock_guard lock(queue_mutex_);
    running_ = true;
  }
  if (!sip_.register_uri.empty()) {
    const std::string aor = aor_for(sip_.register_uri, sip_.register_user);
    reg_nh_ = nua_handle(nua_, nullptr, SIPTAG_TO_STR(aor.c_str()),
                         SIPTAG_FROM_STR(aor.c_str()), TAG_END());
    const std::string expires = std::to_string(sip_.register_expires_s);
    const char* user = sip_.register_user.empty() ? "chalkbot" : sip_.register_user.c_str();
    nua_register(reg_nh_, NUTAG_REGISTRAR(URL_STRING_MAKE(sip_.register_uri.c_str())),
                 NUTAG_M_USERNAME(user), SIPTAG_EXPIRES_STR(expires.c_str()), TAG_END());
  }
  spdlog::info("sip: listening on {}", url);
  ready.set_value(Status());

  su_root_run(root_);

  {
    std::lock_guard lock(queue_mutex_);
    running_ = false;
    queue_.clear();
  }
  if (shutdown_timer_ != nullptr) su_timer_destroy(shutdown_timer_);
  // nua_destroy refuses (and leaks) if nua_shutdown did not finish in time: better than a hang.
  if (nua_shutdown_done_) nua_destroy(nua_);
  nua_ = nullptr;
  su_root_destroy(root_);
  root_ = nullptr;
  su_home_deinit(home_);
  su_deinit();
}

bool SipEndpoint::Stack::post(std::function<void()> fn) {
  std::lock_guard lock(queue_mutex_);
  if (!running_) return false;
  const bool wake = queue_.empty();
  queue_.push_back(std::move(fn));
  if (!wake) return true;  // a wakeup is already on its way
  su_msg_r msg = SU_MSG_R_INIT;
  if (su_msg_create(msg, su_root_task(root_), su_root_task(root_), &Stack::on_wakeup, 0) != 0 ||
      su_msg_send(msg) != 0) {
    queue_.pop_back();
    return false;
  }
  return true;
}

void SipEndpoint::Stack::on_wakeup(SU_ROOT_MAGIC_T* self, su_msg_r, su_msg_arg_t*) {
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard lock(self->queue_mutex_);
    batch.swap(self->queue_);
  }
  for (auto& fn : batch) {
    try {
      fn();
    } catch (const std::exception& e) {
      spdlog::error("sip: command failed: {}", e.what());
    } catch (...) {
      spdlog::error("sip: command failed");
    }
  }
}

void SipEndpoint::Stack::on_event(nua_event_t event, int status, char const* phrase, nua_t*,
                                  NUA_MAGIC_T* self, nua_handle_t* nh, NUA_HMAGIC_T* call,
                                  sip_t const* sip, tagi_t tags[]) {
  // Nothing may unwind through sofia's C frames.
  try {
    self->event(event, status, phrase, nh, call, sip, tags);
  } catch (const std::exception& e) {
    spdlog::error("sip: event {} failed: {}", nua_event_name(event), e.what());
  } catch (...) {
    spdlog::error("sip: event {} failed", nua_event_name(event));
  }
}

void SipEndpoint::Stack::event(nua_event_t event, int status, const char* phrase,
                               nua_handle_t* nh, Call* call, const sip_t* sip, tagi_t tags[]) {
  switch (event) {
    case nua_i_invite:
      if (call == nullptr) {
        incoming_invite(status, nh, sip);
      } else {
        reoffer(*call, nh, sip, false);
      }
      return;
    case nua_i_update:
      if (call != nullptr) {
        reoffer(*call, nh, sip, true);
      } else {
        respond(nh, SIP_481_NO_TRANSACTION, NUTAG_WITH_THIS(nua_), TAG_END());
      }
      return;
    case nua_i_options:
      incoming_options(status, nh, call, sip);
      return;
    case nua_i_state:
      if (call != nullptr) call_state(*call, status, phrase, tags);
      return;
    case nua_i_bye:
      if (call != nullptr) set_reason(*call, EndReason::kRemoteBye, status, phrase);
      return;
    case nua_i_cancel:
      if (call != nullptr) set_reason(*call, EndReason::kCancelled, 487, "Request Terminated");
      return;
    case nua_r_bye:
      if (call != nullptr && !call->local_bye) {
        // The stack ended the session itself: session timer expiry or a missing ACK.
        set_reason(*call, status < 300 || status == 408 || status == 481
                              ? EndReason::kTimeout : EndReason::kTransportError,
                   status, phrase);
      }
      // The BYE is over, answered or failed: the call ends here, once, and its handle goes. (The
      // stack reports no state change when the session was already gone.)
      if (call != nullptr && status >= 200) finish(*call);
      return;
    case nua_r_invite:
      if (call != nullptr) outgoing_invite_result(*call, status, phrase, sip);
      return;
    case nua_r_refer:
      if (call != nullptr) refer_answered(*call, status, phrase);
      return;
    case nua_i_notify:  // the stack has answered it (`status`)
      if (call != nullptr) {
        refer_notified(*call, status, phrase, sip);
      } else if (nh != nullptr) {
        nua_handle_destroy(nh);  // not in a dialog of ours
      }
      return;
    case nua_r_register:
    case nua_r_unregister:
      if (nh == reg_nh_) register_result(status, phrase, sip);
      if (event == nua_r_unregister && status >= 200) unregister_pending_ = false;
      return;
    case nua_r_shutdown:
      if (status >= 200) {
        nua_shutdown_done_ = true;
        su_root_break(root_);
      }
      return;
    case nua_i_error:
      if (call != nullptr && status == 408 && phrase != nullptr &&
          su_casematch(phrase, "ACK Timeout")) {
        // An answered call whose ACK never came: the stack sends BYE itself (nua_r_bye follows).
        spdlog::warn("sip: call {}: no ACK for our 200 ({} {}); hanging up", call->id, status,
                     phrase != nullptr ? phrase : "");
        set_reason(*call, EndReason::kTimeout, status, phrase);
        return;
      }
      spdlog::warn("sip: stack error {} {}", status, phrase != nullptr ? phrase : "");
      return;
    default:
      // Requests we do not implement were answered by the stack (405/501). Handles nua made for
      // them and that we do not own are freed here.
      if (call == nullptr && nh != nullptr && nh != reg_nh_ && event < nua_r_set_params &&
          event != nua_i_ack && event != nua_i_active && event != nua_i_terminated &&
          event != nua_i_prack) {
        nua_handle_destroy(nh);
      }
      return;
  }
}

std::string SipEndpoint::Stack::advertised(const std::string& ip) const {
  if (!ip.empty()) return ip;
  return sip_.public_address.empty() ? sip_.bind_address : sip_.public_address;
}

std::string SipEndpoint::Stack::sdp_for(Call& call) {
  return build_sdp(call.local, sip_.user_agent);
}

void SipEndpoint::Stack::respond_sdp(nua_handle_t* nh, int status, const char* phrase,
                                     const std::string& sdp, bool in_callback) {
  respond(nh, status, phrase, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
              SIPTAG_PAYLOAD_STR(sdp.c_str()),
              TAG_IF(in_callback, NUTAG_WITH_THIS(nua_)), TAG_END());
}

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

void SipEndpoint::Stack::incoming_invite(int, nua_handle_t* nh, const sip_t* sip) {
  auto refuse_invite = [&](int code) {
    refuse(nh, code, false);
    nua_handle_destroy(nh);
  };
  if (sip == nullptr || sip->sip_from == nullptr || sip->sip_to == nullptr ||
      sip->sip_call_id == nullptr) {
    refuse_invite(400);
    return;
  }
  IncomingCall ic;
  ic.call_id = sip->sip_call_id->i_id != nullptr ? sip->sip_call_id->i_id : "";
  ic.from_uri = url_text(home_, sip->sip_from->a_url);
  ic.to_uri = url_text(home_, sip->sip_to->a_url);
  std::tie(ic.source_ip, ic.source_port) = request_source();
  // A request we cannot take, answered with our own reason phrase and logged with it, so the
  // operator sees why a caller failed.
  auto reject_invite = [&](int code, const std::string& phrase, const std::string& detail,
                           auto... tags) {
    spdlog::info("sip: {} {} ({}) for INVITE from {} (Call-ID {})", code, phrase, detail,
                 ic.source_ip, ic.call_id);
    respond(nh, code, lasting(phrase), tags..., TAG_END());
    nua_handle_destroy(nh);
  };
  if (const int status = screen_out_of_dialog(sip, ic.source_ip); status != 0) {
    refuse_invite(status);
    return;
  }
  if (!networks_.contains(ic.source_ip) || !callers_.admits(ic.from_uri)) {
    spdlog::info("sip: 403 for {} from {}", ic.from_uri, ic.source_ip);
    refuse_invite(403);
    return;
  }
  // Before any dialog exists: the URIs it would send to, and a body we can read.
  if (const Refusal refusal = check_invite(sip, sip_.transports)) {
    reject_invite(refusal.status, refusal.reason, refusal.detail,
                  TAG_IF(refusal.accept_sdp, SIPTAG_ACCEPT_STR("application/sdp")));
    return;
  }
  if (auth_.enabled() && !authenticated(nh, sip)) {
    nua_handle_destroy(nh);
    return;
  }
  if (!accepting_ || active_incoming_.load() >= static_cast<std::size_t>(sip_.max_calls)) {
    refuse_invite(503);
    return;
  }
  const std::string body = payload_of(sip);
  if (body.size() > kMaxSdpBytes) {
    refuse_invite(413);
    return;
  }
  // 488 with a Warning (RFC 3261 20.43) that says what is wrong with the offer.
  auto not_acceptable = [&](int warn_code, const std::string& text) {
    const std::string warning =
        std::to_string(warn_code) + " " + url_host(advertised("")) + " \"" + text + "\"";
    reject_invite(488, "Not Acceptable Here", text, SIPTAG_WARNING_STR(warning.c_str()));
  };
  if (body.empty()) {
    not_acceptable(399, "no SDP offer (late offer is not supported)");
    return;
  }
  auto remote = parse_sdp(body);
  if (!remote) {
    not_acceptable(remote.error().message == "no m=audio" ? 304 : 399,
                   "SDP: " + remote.error().message);
    return;
  }
  if (const MediaProblem problem = unusable_audio(*remote); problem.warn_code != 0) {
    not_acceptable(problem.warn_code, problem.text);
    return;
  }
  auto codec = choose_codec(*remote, codecs_);
  if (!codec) {
    not_acceptable(305, "no common codec (we take " + media_.codecs + ")");
    return;
  }
  auto owned = std::make_unique<Call>();
  Call& call = *owned;
  call.id = next_id();
  call.nh = nh;
  call.codec = *codec;
  call.local.session_id = static_cast<std::uint64_t>(
      std::chrono::system_clock::now().time_since_epoch().count()) & 0xffffffffffffULL;
  call.local.version = 1;
  ic.id = call.id;
  ic.remote = *remote;
  ic.codec = *codec;
  calls_.emplace(call.id, std::move(owned));
  active_incoming_.fetch_add(1);
  nua_handle_bind(nh, &call);

  const Admission admission = handler_.on_invite(ic);
  switch (admission.kind) {
    case Admission::Kind::kAccept:
      call.local.direction = mirror(remote->direction);
      do_answer(call.id, admission.media);
      return;
    case Admission::Kind::kDefer:
      call.local.direction = mirror(remote->direction);
      call.state = Call::State::kDeferred;
      respond(nh, SIP_180_RINGING, TAG_END());
      return;
    case Admission::Kind::kReject: {
      const int code = admission.status >= 300 && admission.status < 700 ? admission.status : 480;
      const std::string phrase = admission.reason.empty() ? sip_status_phrase(code)
                                                          : admission.reason;
      respond(nh, code, lasting(phrase), TAG_END());
      // The handler said no: it needs no on_ended.
      nua_handle_bind(nh, nullptr);
      nua_handle_destroy(nh);
      calls_.erase(call.id);
      active_incoming_.fetch_sub(1);
      return;
    }
  }
}

void SipEndpoint::Stack::do_answer(CallId id, const LocalMedia& media) {
  auto it = calls_.find(id);
  if (it == calls_.end() || it->second->outgoing || it->second->state != Call::State::kDeferred) {
    return;
  }
  Call& call = *it->second;
  call.codec = media.codec.payload_type >= 0 ? media.codec : call.codec;
  call.local.address = advertised(media.ip);
  call.local.port = media.rtp_port;
  call.local.codecs = {call.codec};
  call.local.telephone_event_pt = media.telephone_event_pt;
  call.state = Call::State::kAnswered;
  respond_sdp(call.nh, SIP_200_OK, sdp_for(call));
}

void SipEndpoint::Stack::do_reject(CallId id, int status, const std::string& reason) {
  auto it = calls_.find(id);
  if (it == calls_.end() || it->second->outgoing || it->second->state != Call::State::kDeferred) {
    return;
  }
  Call& call = *it->second;
  const int code = status >= 300 && status < 700 ? status : 480;
  const std::string phrase = reason.empty() ? sip_status_phrase(code) : reason;
  respond(call.nh, code, lasting(phrase), TAG_END());
  set_reason(call, EndReason::kLocalHangup, code, phrase.c_str());
  finish(call);
}

void SipEndpoint::Stack::reoffer(Call& call, nua_handle_t* nh, const sip_t* sip, bool is_update) {
  if (const Refusal refusal = check_target_refresh(sip, sip_.transports)) {
    spdlog::warn("sip: call {}: {} {} ({}) for a {}", call.id, refusal.status, refusal.reason,
                 refusal.detail, is_update ? "UPDATE" : "re-INVITE");
    respond(nh, refusal.status, lasting(refusal.reason), NUTAG_WITH_THIS(nua_), TAG_END());
    return;
  }
  const std::string body = payload_of(sip);
  if (body.size() > kMaxSdpBytes) {
    nua_respond(nh, SIP_488_NOT_ACCEPTABLE, NUTAG_WITH_THIS(nua_), TAG_END());
    return;
  }
  if (body.empty()) {
    // A refresh without an offer. re-INVITE: we must offer (our current description).
    if (is_update) {
      respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua_), TAG_END());
    } else {
      respond_sdp(nh, SIP_200_OK, sdp_for(call), true);
    }
    return;
  }
  auto remote = parse_sdp(body);
  if (!remote) {
    respond(nh, SIP_488_NOT_ACCEPTABLE, NUTAG_WITH_THIS(nua_), TAG_END());
    return;
  }
  // The codec stays: the media engine keeps running; a re-offer without it is refused.
  const bool keeps_codec = std::any_of(remote->codecs.begin(), remote->codecs.end(),
                                       [&](const Codec& c) { return c.name == call.codec.name; });
  if (!keeps_codec) {
    respond(nh, SIP_488_NOT_ACCEPTABLE, NUTAG_WITH_THIS(nua_), TAG_END());
    return;
  }
  for (const auto& c : remote->codecs) {
    if (c.name == call.codec.name) call.codec = c;  // its payload type may move
  }
  call.local.codecs = {call.codec};
  call.local.direction = mirror(remote->direction);
  if (remote->telephone_event_pt < 0) call.local.telephone_event_pt = -1;
  else if (call.local.telephone_event_pt >= 0) {
    call.local.telephone_event_pt = remote->telephone_event_pt;
  }
  call.local.version += 1;
  respond_sdp(nh, SIP_200_OK, sdp_for(call), true);
  if (call.outgoing) {
    if (call.out) call.out->on_media_changed(call.id, *remote);
  } else {
    handler_.on_media_changed(call.id, *remote);
  }
}

void SipEndpoint::Stack::call_state(Call& call, int status, const char* phrase, tagi_t tags[]) {
  int state = nua_callstate_init;
  tl_gets(tags, NUTAG_CALLSTATE_REF(state), TAG_END());
  if (state == nua_callstate_ready) {
    if (!call.outgoing) call.state = Call::State::kEstablished;
    if (!call.established_reported && !call.outgoing) {
      call.established_reported = true;
      handler_.on_established(call.id);
    }
  } else if (state == nua_callstate_terminated) {
    if (!call.have_reason) {
      set_reason(call, status >= 300 ? EndReason::kTransportError : EndReason::kRemoteBye, status,
                 phrase);
    }
    finish(call);
  }
}

void SipEndpoint::Stack::set_reason(Call& call, EndReason reason, int status, const char* phrase) {
  if (call.have_reason) return;  // the first cause wins
  call.have_reason = true;
  call.end.reason = reason;
  call.end.status = status;
  call.end.phrase = phrase != nullptr ? phrase : "";
}

void SipEndpoint::Stack::finish(Call& call) {
  const CallId id = call.id;
  const CallEnd end = call.end;
  auto out = call.out;
  const bool outgoing = call.outgoing;
  const bool answered = call.answered;
  nua_handle_bind(call.nh, nullptr);
  nua_handle_destroy(call.nh);
  calls_.erase(id);  // `call` is gone from here on
  if (outgoing) {
    if (out && answered) out->on_ended(id, end);
    else if (out) out->on_failed(id, end.status >= 300 ? end.status : 500, end.phrase);
  } else {
    active_incoming_.fetch_sub(1);
    handler_.on_ended(id, end);
  }
  maybe_stop_stack();
}

void SipEndpoint::Stack::do_hangup(CallId id, EndReason reason) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& call = *it->second;
  switch (call.state) {
    case Call::State::kEnding:
      return;
    case Call::State::kDeferred:
      respond(call.nh, SIP_480_TEMPORARILY_UNAVAILABLE, TAG_END());
      set_reason(call, reason, 480, "Temporarily Unavailable");
      finish(call);
      return;
    case Call::State::kCalling:
      call.state = Call::State::kEnding;
      set_reason(call, reason, 487, "Request Terminated");
      nua_cancel(call.nh, TAG_END());
      return;
    case Call::State::kAnswered:
    case Call::State::kEstablished:
      set_reason(call, reason, 0, "");
      send_bye(call);
      return;
  }
}

void SipEndpoint::Stack::send_bye(Call& call) {
  if (call.local_bye) return;  // one BYE per call: the stack retries nothing for us
  call.local_bye = true;
  call.state = Call::State::kEnding;
  nua_bye(call.nh, TAG_END());
}

void SipEndpoint::Stack::do_transfer(CallId id, const std::string& target) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& call = *it->second;
  if (call.outgoing ||
      (call.state != Call::State::kAnswered && call.state != Call::State::kEstablished)) {
    handler_.on_transfer(id,
                         {TransferProgress::Stage::kFailed, 0, "call not in a state to transfer"});
    return;
  }
  // A REFER asked for again (the agent gave up waiting for the last one) starts a new
  // subscription; whichever outcome comes first is the call's.
  call.transferring = true;
  const std::string refer_to = "<" + target + ">";  // URI parameters stay the URI's
  nua_refer(call.nh, SIPTAG_REFER_TO_STR(refer_to.c_str()), TAG_END());
}

void SipEndpoint::Stack::refer_answered(Call& call, int status, const char* phrase) {
  if (!call.transferring || status < 200) return;
  if (status < 300) {
    handler_.on_transfer(call.id, {TransferProgress::Stage::kAccepted, status,
                                   phrase != nullptr ? phrase : ""});
    return;
  }
  transfer_over(call, TransferProgress::Stage::kFailed, status, phrase != nullptr ? phrase : "");
}

void SipEndpoint::Stack::refer_notified(Call& call, int status, const char* phrase,
                                        const sip_t* sip) {
  if (!call.transferring) return;
  if (sip == nullptr) {
    // The stack's own report that the subscription ended unanswered (408 and the like).
    if (status >= 300) {
      transfer_over(call, TransferProgress::Stage::kFailed, status,
                    phrase != nullptr ? phrase : "");
    }
    return;
  }
  if (status >= 300 || sip->sip_event == nullptr ||
      !su_casematch(sip->sip_event->o_type, "refer")) {
    return;  // refused by the stack (481: not our subscription) or about something else
  }
  // message/sipfrag: the status line of the transferee's call to the new party.
  const std::string frag = payload_of(sip);
  const std::string line = frag.substr(0, frag.find_first_of("\r\n"));
  int new_call_status = 0;
  if (line.rfind("SIP/2.0 ", 0) == 0 && line.size() >= 11) {
    std::from_chars(line.data() + 8, line.data() + 11, new_call_status);
  }
  if (new_call_status >= 200) {
    transfer_over(call, new_call_status < 300 ? TransferProgress::Stage::kSucceeded
                                              : TransferProgress::Stage::kFailed,
                  new_call_status, line.size() > 12 ? line.substr(12) : "");
  } else if (sip->sip_subscription_state != nullptr &&
             su_casematch(sip->sip_subscription_state->ss_substate, "terminated")) {
    transfer_over(call, TransferProgress::Stage::kFailed, 0,
                  "the phone ended the transfer's subscription without the new call's answer");
  }
  // Otherwise 100 Trying, 180 Ringing: still going.
}

void SipEndpoint::Stack::transfer_over(Call& call, TransferProgress::Stage stage, int status,
                                       std::string phrase) {
  call.transferring = false;
  handler_.on_transfer(call.id, {stage, status, std::move(phrase)});
}

void SipEndpoint::Stack::do_place_call(CallId id, const std::string& target,
                                       const OfferMedia& media,
                                       std::shared_ptr<OutgoingCallHandler> handler) {
  if (!accepting_) {
    if (handler) handler->on_failed(id, 503, "Shutting down");
    return;
  }
  auto owned = std::make_unique<Call>();
  Call& call = *owned;
  call.id = id;
  call.outgoing = true;
  call.state = Call::State::kCalling;
  call.out = std::move(handler);
  call.offered = media.codecs.empty() ? codecs_ : media.codecs;
  call.local.address = advertised(media.ip);
  call.local.port = media.rtp_port;
  call.local.codecs = call.offered;
  call.local.telephone_event_pt = media.telephone_event_pt;
  call.local.session_id = static_cast<std::uint64_t>(
      std::chrono::system_clock::now().time_since_epoch().count()) & 0xffffffffffffULL;
  call.local.version = 1;
  call.nh = nua_handle(nua_, &call, SIPTAG_TO_STR(target.c_str()), TAG_END());
  if (call.nh == nullptr) {
    if (call.out) call.out->on_failed(id, 400, "Bad target URI");
    return;
  }
  const std::string sdp = sdp_for(call);
  calls_.emplace(id, std::move(owned));
  nua_invite(call.nh, SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(sdp.c_str()),
             TAG_END());
}

void SipEndpoint::Stack::outgoing_invite_result(Call& call, int status, const char* phrase,
                                                const sip_t* sip) {
  if (status < 200) {
    if (status >= 180 && call.out && !call.answered) call.out->on_ringing(call.id);
    return;
  }
  if (status >= 300) {
    set_reason(call, EndReason::kTransportError, status, phrase);
    return;  // nua_i_state terminated follows and reports on_failed
  }
  // A re-INVITE of ours (none yet), a retransmitted 2xx, or one we already hung up on.
  if (call.answered || call.local_bye) return;
  if (const Refusal refusal = check_target_refresh(sip, sip_.transports)) {
    // A far end we could never send the BYE (or even the ACK) to: give up on the call now.
    spdlog::warn("sip: call {}: answered with an unusable Contact: {} ({})", call.id,
                 refusal.reason, refusal.detail);
    set_reason(call, EndReason::kTransportError, 502, "Bad Gateway");
    send_bye(call);
    return;
  }
  auto remote = parse_sdp(payload_of(sip));
  Result<Codec> codec = remote ? choose_codec(*remote, call.offered) : Result<Codec>(remote.error());
  if (const MediaProblem problem = codec ? unusable_audio(*remote) : MediaProblem{};
      problem.warn_code != 0) {
    codec = make_error(problem.text);  // the far end refused our stream (port 0) or the profile
  }
  if (!codec) {
    // Answered with nothing we can play: hang up; the caller sees a 488 failure.
    call.answered = false;
    set_reason(call, EndReason::kLocalHangup, 488, "Not Acceptable Here");
    send_bye(call);
    return;
  }
  call.answered = true;
  call.codec = *codec;
  if (call.state == Call::State::kEnding) {
    // hangup() raced the answer: the CANCEL lost, so BYE.
    call.have_reason = false;
    set_reason(call, EndReason::kLocalHangup, 0, "");
    if (call.out) call.out->on_answered(call.id, *remote, *codec);
    send_bye(call);
    return;
  }
  call.state = Call::State::kEstablished;
  if (call.out) call.out->on_answered(call.id, *remote, *codec);
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

void SipEndpoint::Stack::begin_shutdown() {
  if (nua_shutdown_sent_ || shutdown_timer_ != nullptr) return;
  accepting_ = false;
  std::vector<CallId> ids;
  for (const auto& [id, call] : calls_) ids.push_back(id);
  for (CallId id : ids) do_hangup(id, EndReason::kShutdown);
  bool registered = false;
  {
    std::lock_guard lock(reg_mutex_);
    registered = reg_state_.registered;
  }
  if (reg_nh_ != nullptr && registered) {
    unregister_pending_ = true;
    nua_unregister(reg_nh_, TAG_END());
  }
  shutdown_at_ = std::chrono::steady_clock::now();
  shutdown_timer_ = su_timer_create(su_root_task(root_), 50);
  su_timer_set_interval(shutdown_timer_, &Stack::on_shutdown_tick, nullptr, 50);
  maybe_stop_stack();
}

void SipEndpoint::Stack::on_shutdown_tick(SU_ROOT_MAGIC_T* self, su_timer_t*, su_timer_arg_t*) {
  self->maybe_stop_stack();
}

void SipEndpoint::Stack::maybe_stop_stack() {
  if (shutdown_timer_ == nullptr) return;  // not shutting down
  const auto waited = std::chrono::steady_clock::now() - shutdown_at_;
  if (!nua_shutdown_sent_) {
    if ((calls_.empty() && !unregister_pending_) || waited > kShutdownWait) {
      nua_shutdown_sent_ = true;
      // Calls still here did not finish in time: report them ended anyway.
      std::vector<CallId> ids;
      for (const auto& [id, call] : calls_) ids.push_back(id);
      for (CallId id : ids) {
        auto it = calls_.find(id);
        if (it == calls_.end()) continue;
        set_reason(*it->second, EndReason::kShutdown, 0, "");
        Call& call = *it->second;
        const CallEnd end = call.end;
        auto out = call.out;
        const bool outgoing = call.outgoing;
        const bool answered = call.answered;
        nua_handle_bind(call.nh, nullptr);
        calls_.erase(it);
        if (!outgoing) {
          active_incoming_.fetch_sub(1);
          handler_.on_ended(id, end);
        } else if (out && answered) {
          out->on_ended(id, end);
        } else if (out) {
          out->on_failed(id, 503, "Shutting down");
        }
      }
      nua_shutdown(nua_);
    }
  } else if (!nua_shutdown_done_ && waited > kShutdownWait + kStackShutdownWait) {
    spdlog::warn("sip: stack shutdown timed out");
    su_root_break(root_);
  }
}

void SipEndpoint::Stack::shutdown() {
  if (thread_.joinable() && thread_.get_id() == std::this_thread::get_id()) {
    // From a handler: cannot join ourselves; start it and let the owner's shutdown() join.
    post([this] { begin_shutdown(); });
    return;
  }
  if (shutdown_started_.exchange(true)) {
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
    return;
  }
  if (!thread_.joinable()) return;
  if (!post([this] { begin_shutdown(); })) {
    // Not running (start failed): nothing to stop.
  }
  thread_.join();
}

// ---- SipEndpoint ----

SipEndpoint::SipEndpoint(SipSettings sip, MediaSettings media, CallHandler& handler)
    : stack_(std::make_unique<Stack>(std::move(sip), std::move(media), handler)) {}

SipEndpoint::~SipEndpoint() { shutdown(); }

Status SipEndpoint::start() { return stack_->start(); }
int SipEndpoint::port() const { return stack_->port(); }

void SipEndpoint::hangup(CallId id) {
  Stack* s = stack_.get();
  s->post([s, id] { s->do_hangup(id, EndReason::kLocalHangup); });
}

void SipEndpoint::answer(CallId id, LocalMedia media) {
  Stack* s = stack_.get();
  s->post([s, id, media = std::move(media)] { s->do_answer(id, media); });
}

void SipEndpoint::reject(CallId id, int status, std::string reason) {
  Stack* s = stack_.get();
  s->post([s, id, status, reason = std::move(reason)] { s->do_reject(id, status, reason); });
}

void SipEndpoint::transfer(CallId id, std::string target_uri) {
  Stack* s = stack_.get();
  s->post([s, id, target = std::move(target_uri)] { s->do_transfer(id, target); });
}

void SipEndpoint::stop_accepting() {
  Stack* s = stack_.get();
  s->post([s] { s->stop_accepting_now(); });
}

Result<CallId> SipEndpoint::place_call(const std::string& target_uri, OfferMedia media,
                                       std::shared_ptr<OutgoingCallHandler> handler) {
  if ((target_uri.rfind("sip:", 0) != 0 && target_uri.rfind("sips:", 0) != 0) ||
      target_uri.find_first_of(" \t\r\n<>\"") != std::string::npos) {
    return make_error("not a SIP URI: '" + target_uri + "'");
  }
  for (const auto& c : media.codecs) {
    if (!known_codec(c.name)) return make_error("unsupported codec " + c.name);
  }
  Stack* s = stack_.get();
  const CallId id = s->next_id();
  if (!s->post([s, id, target_uri, media = std::move(media), handler = std::move(handler)] {
        s->do_place_call(id, target_uri, media, handler);
      })) {
    return make_error("SIP endpoint is not running");
  }
  return id;
}

void SipEndpoint::shutdown() { stack_->shutdown(); }

RegistrationState SipEndpoint::registration() const { return stack_->registration(); }
std::size_t SipEndpoint::active_calls() const { return stack_->active_calls(); }

}  // namespace chalkbot::sip
