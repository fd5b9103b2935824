#pragma once
// One call carried over a WebSocket, whatever the messages look like (Twilio Media Streams, the
// browser phone), and the thread that runs such calls. Private to transport/: it exposes Beast.
//
// WebSocketCall owns the socket: the read loop (messages up to a size limit, handed to the
// protocol), the outbox and its write loop, the end of the call (the call engine told why, a
// close frame sent once what is queued has gone) and the 20 ms tick that sends the call's next
// frame of bot speech. A protocol is a subclass: it parses what comes in and encodes what goes
// out; it never touches the socket itself.
//
// WebSocketCallHost is the one thread ("twilio", "browser") on which every call of a transport
// and its sockets live, with one absolute-deadline 20 ms tick for all of them.
//
// Threads: everything here runs on the host's thread, except where a member says otherwise.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "transport/stream_calls.h"

namespace chalkbot {

class WebSocketCall : public std::enable_shared_from_this<WebSocketCall> {
 public:
  using Socket = boost::beast::websocket::stream<boost::beast::tcp_stream>;
  using CloseCode = boost::beast::websocket::close_code;

  // Messages the far end has not taken beyond which bot speech is dropped: it is not reading.
  static constexpr std::size_t kMaxOutbox = 50;

  // `transport` names it in logs ("twilio"); `input_came` is the host's (see there). A call that
  // has not begun (begin_call) within `start_timeout` is closed.
  WebSocketCall(Socket ws, StreamCallHandler& handler, std::atomic<bool>& input_came,
                std::string peer, std::string transport, std::chrono::milliseconds start_timeout);
  virtual ~WebSocketCall();
  WebSocketCall(const WebSocketCall&) = delete;
  WebSocketCall& operator=(const WebSocketCall&) = delete;

  // Reads until the call is over; run as the connection's coroutine.
  boost::asio::awaitable<void> read_loop();
  // On the host's tick: the next frame out, a clear, the end of a talk spurt. False once the call
  // is over (the host forgets it).
  bool tick(SteadyClock::time_point now);
  // The server stops: the call ends ("shutdown") with a going-away close.
  void shut();
  // Closes the socket whatever state it is in. Only once the host's thread has ended.
  void abort();

 protected:
  // --- the protocol ---
  // One message (`text`: a text frame, else binary); what was wrong with it, if anything (the
  // call then ends as a protocol error).
  virtual std::optional<std::string> on_message(bool text, std::string_view data) = 0;
  // Encodes one 20 ms frame of bot speech and send()s it.
  virtual void send_frame(Samples frame) = 0;
  // Barge-in: the far end is told to drop the speech it holds (if it buffers any).
  virtual void send_clear() {}
  // The bot stopped talking (its queue ran dry).
  virtual void spurt_ended() {}
  // The call ends for `reason` (see StreamCallHandler::stream_ended) and the socket is still
  // there: a last message may be send()t before the close frame.
  virtual void goodbye(const std::string& /*reason*/, const std::string& /*error*/) {}

  // --- for the protocol ---
  // A call begins with this audio; false when refused (the stream is then ending).
  bool begin_call(const StreamCallStart& start, std::shared_ptr<StreamedAudio> audio);
  // The caller's audio arrived (the calls get a step soon).
  void caller_input() { input_came_.store(true, std::memory_order_relaxed); }
  // Queues a message (text or binary); nothing once the call is over.
  void send(std::string message, bool text = true);
  bool outbox_full() const { return outbox_.size() >= kMaxOutbox; }
  // The call ends: the handler hears why, the socket closes with `code` once what is queued
  // has gone (CloseCode::none: at once, the connection is already gone).
  void end(const std::string& reason, CloseCode code, const std::string& why);
  void protocol_error(const std::string& what);

  StreamedAudio* audio() const { return audio_.get(); }
  const std::string& peer() const { return peer_; }
  const std::string& transport() const { return transport_; }
  const std::string& call_id() const { return call_id_; }
  std::string name() const { return call_id_.empty() ? "(" + peer_ + ")" : call_id_; }
  bool over() const { return over_; }
  boost::asio::any_io_executor executor() { return ws_.get_executor(); }

 private:
  struct Outgoing {
    std::string data;
    bool text = true;
  };
  void read_failed(const boost::beast::error_code& error);
  boost::asio::awaitable<void> write_loop();
  bool peer_sent_close() const;

  Socket ws_;
  StreamCallHandler& handler_;
  std::atomic<bool>& input_came_;
  const std::string peer_;
  const std::string transport_;
  const std::chrono::milliseconds start_timeout_;
  const SteadyClock::time_point opened_at_;
  std::string call_id_;
  std::shared_ptr<StreamedAudio> audio_;
  std::deque<Outgoing> outbox_;
  bool writing_ = false;
  bool over_ = false;
  bool in_spurt_ = false;
  std::uint64_t frames_dropped_ = 0;
  std::string error_;  // what was malformed, for goodbye()
  CloseCode close_code_ = CloseCode::normal;
  std::string close_reason_;
};

class WebSocketCallHost {
 public:
  // `wake` (cheap, any thread) is called at most once per tick when a call's input came: the
  // calls' cue to step.
  WebSocketCallHost(std::string thread_name, std::function<void()> wake);
  ~WebSocketCallHost();  // stops
  WebSocketCallHost(const WebSocketCallHost&) = delete;
  WebSocketCallHost& operator=(const WebSocketCallHost&) = delete;

  // Where the calls' sockets (and any acceptor of the transport) live.
  boost::asio::io_context& io() { return io_; }
  std::atomic<bool>& input_came() { return input_came_; }
  // Starts the tick and the thread.
  void start();
  // The host's thread: the call is ticked from now on until it is over.
  void add(std::shared_ptr<WebSocketCall> call) { calls_.push_back(std::move(call)); }
  std::size_t calls() const { return calls_.size(); }  // the host's thread
  // Any thread: `first` runs on the host's thread (closing acceptors), then every call is shut;
  // returns once the thread has ended.
  void stop(std::function<void()> first = {});
  bool running() const { return thread_.joinable(); }

 private:
  boost::asio::awaitable<void> tick_loop();

  const std::string thread_name_;
  std::function<void()> wake_;
  boost::asio::io_context io_;
  boost::asio::steady_timer ticker_{io_};
  std::thread thread_;
  std::atomic<bool> input_came_{false};
  std::vector<std::shared_ptr<WebSocketCall>> calls_;  // the host's thread only
};

}  // namespace chalkbot
