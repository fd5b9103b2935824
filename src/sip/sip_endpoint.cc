#include "sip/sip_endpoint.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/text.h"
#include "sip/sip_endpoint_stack.h"
#include "sip/sofia_log.h"
#include "sip/tls_files.h"

#include <sofia-sip/hostdomain.h>
#include <sofia-sip/su_strlst.h>
#include <sofia-sip/tport_tag.h>

namespace chalkbot::sip {
namespace {

// What we implement; sofia's defaults (100rel, MESSAGE, SUBSCRIBE ...) are trimmed to this.
// NOTIFY: the outcome of a transfer we asked for.
constexpr const char* kAllow = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, NOTIFY";
constexpr const char* kSupported = "timer";
constexpr unsigned kMaxMessageBytes = 64 * 1024;
// SO_RCVBUF of the UDP SIP socket (the kernel doubles it for its bookkeeping).
constexpr unsigned kUdpReceiveBufferBytes = 4 * 1024 * 1024;
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

// A TCP port free on `address`, for the TLS listener.
Result<int> pick_free_tcp_port(const std::string& address) {
  const bool v6 = address.find(':') != std::string::npos;
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return make_error("socket() failed");
  sockaddr_storage ss{};
  socklen_t len = v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  ss.ss_family = v6 ? AF_INET6 : AF_INET;
  void* addr = v6 ? static_cast<void*>(&reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr)
                  : static_cast<void*>(&reinterpret_cast<sockaddr_in*>(&ss)->sin_addr);
  auto* sa = reinterpret_cast<sockaddr*>(&ss);
  const bool ok = inet_pton(ss.ss_family, address.c_str(), addr) == 1 &&
                  ::bind(fd, sa, len) == 0 && ::getsockname(fd, sa, &len) == 0;
  ::close(fd);
  if (!ok) return make_error("sip.tls_listen: cannot bind a TCP port on " + address);
  return static_cast<int>(ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                   : reinterpret_cast<sockaddr_in*>(&ss)->sin_port));
}

// The registrar asks for TLS: a sips: URI or transport=tls.
bool registrar_wants_tls(const std::string& uri) {
  const std::string lower = ascii_lower(uri);
  return lower.rfind("sips:", 0) == 0 || lower.find(";transport=tls") != std::string::npos;
}

}  // namespace

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
  auto srtp_mode = parse_srtp_mode(media_.srtp);
  if (!srtp_mode) return srtp_mode.error();
  srtp_mode_ = *srtp_mode;
  dialog_transports_ = sip_.transports;
  if (sip_.tls_listen != "off") {
    auto listen = parse_tls_listen(sip_.tls_listen);
    if (!listen) return listen.error();
    if (auto files = check_tls_files(sip_); !files) return files.error();
    tls_host_ = listen->host;
    tls_port_ = listen->port;
    if (tls_port_ == 0) {
      auto free = pick_free_tcp_port(tls_host_);
      if (!free) return free.error();
      tls_port_ = *free;
    }
    dialog_transports_ += ",tls";
  } else if (registrar_wants_tls(sip_.register_uri)) {
    return make_error("sip.register_uri: a sips: or transport=tls registrar needs the TLS "
                      "transport (sip.tls_listen and its certificate)");
  }
  port_ = sip_.port;
  if (port_ == 0) {
    auto free = pick_free_port(sip_.bind_address);
    if (!free) return free.error();
    port_ = *free;
  }
  reg_state_.enabled = !sip_.register_uri.empty();
  route_sofia_logs();

  std::promise<Status> ready;
  auto result = ready.get_future();
  thread_ = std::thread([this, &ready] { run(ready); });
  Status status = result.get();
  if (!status) thread_.join();
  return status;
}

void SipEndpoint::Stack::run(std::promise<Status>& ready) {
  pthread_setname_np(pthread_self(), "sip");
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
  // sofia reads the TLS files while nua_create() binds; the directory goes when this scope ends.
  std::optional<TlsCertificateDir> tls_dir;
  std::string sips_url;
  su_strlst_t* trunk_names = nullptr;
  if (tls_port_ != 0) {
    auto dir = TlsCertificateDir::create(sip_);
    if (!dir) {
      su_root_destroy(root_);
      root_ = nullptr;
      su_home_deinit(home_);
      su_deinit();
      ready.set_value(dir.error());
      return;
    }
    tls_dir.emplace(std::move(*dir));
    sips_url = "sips:" + url_host(tls_host_) + ":" + std::to_string(tls_port_);
    const std::string trunk_host = registrar_host(sip_.register_uri);
    if (!sip_.tls_ca_file.empty() && !trunk_host.empty() &&
        !host_is_ip_address(trunk_host.c_str())) {
      // The registrar's certificate must name its host, not only chain to a CA we trust. (sofia
      // matches names from the certificate's CN and DNS entries, not IP addresses.)
      trunk_names = su_strlst_create(home_);
      su_strlst_dup_append(trunk_names, trunk_host.c_str());
    }
  }
  const unsigned verify_policy =
      sip_.tls_ca_file.empty() ? TPTLS_VERIFY_NONE
                               : (trunk_names != nullptr ? TPTLS_VERIFY_SUBJECTS_OUT
                                                         : TPTLS_VERIFY_OUT);
  nua_ = nua_create(root_, &Stack::on_event, this,
                    NUTAG_URL(url.c_str()),
                    TAG_IF(tls_port_ != 0, NUTAG_SIPS_URL(sips_url.c_str())),
                    TAG_IF(tls_port_ != 0, TPTAG_CERTIFICATE(tls_dir->path().c_str())),
                    TAG_IF(tls_port_ != 0, TPTAG_TLS_VERIFY_POLICY(verify_policy)),
                    TAG_IF(trunk_names != nullptr, TPTAG_TLS_VERIFY_SUBJECTS(trunk_names)),
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
                    // A burst of requests (thousands of calls a second, or a trunk's
                    // retransmissions after a stall) must not overflow the kernel's default
                    // 208 KiB: a dropped ACK leaves an answered call waiting 64*T1 for it. The
                    // kernel caps this at net.core.rmem_max.
                    TPTAG_UDP_RMEM(kUdpReceiveBufferBytes),
                    // RFC 3261 timers. 64*T1 is how long a transaction (and an answered call's
                    // wait for its ACK) lasts; tests shorten it. It is also what a burst of
                    // calls costs in memory: each ended call's BYE transaction is kept that long.
                    NTATAG_SIP_T1(static_cast<unsigned>(sip_.timer_t1_ms)),
                    NTATAG_SIP_T1X64(sip_.timer_t1x64_ms > 0
                                         ? static_cast<unsigned>(sip_.timer_t1x64_ms)
                                         : 64u * static_cast<unsigned>(sip_.timer_t1_ms)),
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
    ready.set_value(make_error("cannot listen for SIP on " + url +
                               (sips_url.empty() ? "" : " and " + sips_url) + " (port in use?)"));
    return;
  }
  tls_dir.reset();
  {
    std::lock_guard lock(queue_mutex_);
    running_ = true;
  }
  if (!sip_.register_uri.empty()) start_registration();
  spdlog::info("sip: listening on {}", url);
  if (!sips_url.empty()) {
    spdlog::info("sip: TLS listening on {}{}", sips_url,
                 sip_.tls_ca_file.empty() ? "" : " (a registrar's certificate is verified)");
  }
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
int SipEndpoint::tls_port() const { return stack_->tls_port(); }

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
