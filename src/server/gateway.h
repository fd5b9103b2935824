#pragma once
// The gateway between the ways in and the call agents: admits SIP calls, gives each a media
// session and an agent stepped on the call pool (a fixed set of threads, woken by every media
// tick), relays hang-ups and re-INVITEs, and drains on shutdown. Calls that come over a socket
// transport (Asterisk AudioSocket, Twilio Media Streams, the browser phone) get the same agent, fed
// by the transport's StreamedAudio.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/call_agent.h"
#include "media/media_engine.h"
#include "sip/sip_endpoint.h"
#include "transport/audiosocket_server.h"
#include "transport/browser_phone.h"
#include "transport/twilio_server.h"

namespace chalkbot {

// A call in progress, as the admin API shows it.
struct LiveCall {
  std::string id;  // the store's call id
  std::string from;
  std::string to;
  std::int64_t started_ms = 0;  // wall clock, when the INVITE came
  std::string state;            // "ringing" (not answered yet) or "talking"
};

class Gateway final : public sip::CallHandler, public StreamCallHandler {
 public:
  // `services` must outlive the gateway.
  explicit Gateway(const CallServices& services);
  ~Gateway() override;

  // Starts the media thread, the SIP stack and the transports that are enabled; returns once
  // listening.
  Status start();
  int sip_port() const;
  int audiosocket_port() const;  // 0 when audiosocket.enabled is off
  int twilio_port() const;       // 0 when twilio.enabled is off
  // The Talk page's calls, which the admin server hands over; null when admin.listen is off.
  BrowserPhone* browser_phone() { return browser_.get(); }
  std::size_t active_calls() const;

  // Any thread: the calls in progress, oldest first.
  std::vector<LiveCall> live_calls() const;
  // Any thread: hangs up the call with this store id (BYE, or 480 while it rings); false when no
  // such call is in progress.
  bool hang_up(const std::string& call_id);

  // How many calls have ended since the last reap() (each is forgotten, its media and agent let
  // go, as it ends); also frees the media sessions the media thread has let go of meanwhile.
  // Call periodically from the owner's thread.
  std::size_t reap();
  // SIGTERM: new calls get 503, current calls finish their turn and say goodbye (up to `grace`),
  // the rest get BYE; returns when every call has ended.
  void drain(std::chrono::seconds grace);

  // sip::CallHandler: on the SIP thread, never blocking.
  sip::Admission on_invite(const sip::IncomingCall& call) override;
  void on_established(sip::CallId id) override;
  void on_media_changed(sip::CallId id, const sip::RemoteMedia& remote) override;
  void on_ended(sip::CallId id, const sip::CallEnd& end) override;
  void on_transfer(sip::CallId id, const sip::TransferProgress& progress) override;
  void on_response_sent(int status) override;  // chalkbot_sip_responses_total (lock-free)
  void on_srtp_refused() override;             // chalkbot_sip_srtp_refused_total

  // StreamCallHandler: on a transport's thread, never blocking.
  bool stream_started(const StreamCallStart& start, std::shared_ptr<StreamedAudio> audio) override;
  void stream_ended(const std::string& call_id, const std::string& reason) override;

 private:
  struct Call {
    sip::IncomingCall invite;
    std::string store_id;
    std::int64_t started_ms = 0;
    std::atomic<bool> hung_up_by_admin{false};
    std::shared_ptr<MediaSession> media;
    std::shared_ptr<CallAgent> agent;  // stepped on calls_pool_ once answered
    std::atomic<bool> ended_before_answer{false};
    std::atomic<bool> finished{false};
    std::atomic<bool> counted_over{false};  // calls_active lowered for it
  };

  // A call that came over a socket transport.
  struct StreamCall {
    StreamCallStart start;
    std::int64_t started_ms = 0;
    std::shared_ptr<StreamedAudio> audio;
    std::shared_ptr<CallAgent> agent;
    std::atomic<bool> hung_up_by_admin{false};
    std::atomic<bool> finished{false};
    std::atomic<bool> counted_over{false};
  };

  Status start_audiosocket();  // when enabled
  Status start_twilio();       // when enabled
  void start_browser();        // when the admin server is on

  // Lowers the calls_active gauge, once per call.
  static void count_over(Call& call);
  static void count_over(StreamCall& call);
  // Empties calls_ / streams_ (under mutex_) and returns what they held.
  std::vector<std::shared_ptr<Call>> take_calls();
  std::vector<std::shared_ptr<StreamCall>> take_streams();
  // Tells every call the far end is gone (`reason`) and waits for their agents to end.
  void end_all_calls(const std::string& reason);
  // After a call's agent ended (on a pool thread): its figures to the metrics.
  static void count_ended(Call& call);
  // Drops an ended call from calls_ / streams_ (and counts it for reap()).
  void forget_call(sip::CallId id);
  void forget_stream(const std::string& call_id);

  const CallServices& services_;
  // Declared before the media engine, whose ticks wake it: the engine stops first.
  std::unique_ptr<CallPool> calls_pool_;
  std::unique_ptr<MediaEngine> media_engine_;
  std::unique_ptr<sip::SipEndpoint> sip_;
  std::unique_ptr<AudioSocketServer> audiosocket_;  // when audiosocket.enabled
  std::unique_ptr<TwilioServer> twilio_;            // when twilio.enabled
  std::unique_ptr<BrowserPhone> browser_;           // when admin.listen is not off
  std::string media_ip_;
  std::atomic<bool> draining_{false};

  mutable std::mutex mutex_;
  std::map<sip::CallId, std::shared_ptr<Call>> calls_;
  std::map<std::string, std::shared_ptr<StreamCall>> streams_;  // by store id
  std::atomic<std::size_t> ended_{0};  // calls forgotten since the last reap()
};

}  // namespace chalkbot
