#pragma once
// The browser phone: the dashboard's Talk page calls the bot over a WebSocket on the admin server
// (browser_protocol.h). The admin server authorizes the upgrade request (its own rules: open on
// loopback, the token beyond) and hands the connection over; from then on it lives on the phone's
// own "browser" thread, which reads, writes and, on one 20 ms absolute-deadline tick, sends every
// call's next frame of bot speech, so a slow admin request never delays a call's audio.
//
// The call engine runs at 8 kHz today (CallAudio's frames): the caller's audio is resampled from
// the page's rate to 8 kHz and the bot's from 8 kHz up to 16 kHz for the page. Wideband calls are
// another step (issue 17, item 4).
#include <functional>
#include <memory>
#include <string>

#include "transport/stream_calls.h"

namespace chalkbot {

class BrowserPhone {
 public:
  // `handler` must outlive the phone; `wake` as AudioSocketServer's. Beyond `max_calls` browser
  // calls at once a new one is told the phone is busy and closed (the handler may refuse sooner:
  // it counts every call).
  BrowserPhone(StreamCallHandler& handler, std::function<void()> wake, int max_calls);
  ~BrowserPhone();  // stops
  BrowserPhone(const BrowserPhone&) = delete;
  BrowserPhone& operator=(const BrowserPhone&) = delete;

  void start();
  // Any thread, once the admin server has read and authorized a WebSocket upgrade request for the
  // Talk page: `socket` (a connected TCP socket's descriptor) is the phone's from now on;
  // `request` is the upgrade request as it came (answered here with 101), `peer` the far
  // address. Closed at once after stop_accepting().
  void take(int socket, std::string request, std::string peer);
  // Any thread: no new calls (graceful shutdown); calls in progress go on.
  void stop_accepting();
  // Ends every call and joins the thread.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace chalkbot
