#include "transport/websocket_call.h"

#include <pthread.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "core/log.h"

namespace chalkbot {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using namespace std::chrono_literals;

constexpr auto kCallTick = std::chrono::milliseconds(kFrameMs);

}  // namespace

WebSocketCall::WebSocketCall(Socket ws, StreamCallHandler& handler, std::atomic<bool>& input_came,
                             std::string peer, std::string transport,
                             std::chrono::milliseconds start_timeout)
    : ws_(std::move(ws)),
      handler_(handler),
      input_came_(input_came),
      peer_(std::move(peer)),
      transport_(std::move(transport)),
      start_timeout_(start_timeout),
      opened_at_(SteadyClock::now()) {}

WebSocketCall::~WebSocketCall() = default;

asio::awaitable<void> WebSocketCall::read_loop() {
  auto self = shared_from_this();
  beast::flat_buffer buffer;
  while (!over_) {
    buffer.clear();
    auto [error, n] = co_await ws_.async_read(buffer, asio::as_tuple(asio::use_awaitable));
    if (error) co_return read_failed(error);
    if (over_) co_return;
    const auto data = buffer.cdata();
    const std::string_view message(static_cast<const char*>(data.data()), data.size());
    if (auto what = on_message(ws_.got_text(), message)) co_return protocol_error(*what);
  }
}

bool WebSocketCall::tick(SteadyClock::time_point now) {
  if (over_) return false;
  if (!audio_) {
    if (now - opened_at_ > start_timeout_) {
      spdlog::warn("{} {}: the call did not begin within {} ms; closing the stream", transport_,
                   name(), start_timeout_.count());
      end("no_start", CloseCode::policy_error, "no start");
      return false;
    }
    return true;
  }
  if (audio_->closed()) {  // the call ended on our side
    spdlog::info("{} {}: call over, closing the stream", transport_, name());
    end("bot_hangup", CloseCode::normal, "");
    return false;
  }
  if (audio_->take_clear()) send_clear();
  const Samples frame = audio_->next_frame();
  if (frame.empty()) {
    if (in_spurt_) {
      in_spurt_ = false;
      spurt_ended();
    }
    return true;
  }
  in_spurt_ = true;
  if (!outbox_full()) {
    send_frame(frame);
  } else {
    ++frames_dropped_;
  }
  audio_->frame_sent(now);
  return true;
}

void WebSocketCall::shut() { end("shutdown", CloseCode::going_away, "shutting down"); }

void WebSocketCall::abort() {
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).socket().close(ignored);
}

bool WebSocketCall::begin_call(const StreamCallStart& start, std::shared_ptr<StreamedAudio> audio) {
  call_id_ = start.call_id;
  if (!handler_.stream_started(start, audio)) {
    spdlog::warn("{} {}: call refused", transport_, name());
    end("refused", CloseCode::try_again_later, "refused");
    return false;
  }
  audio_ = std::move(audio);
  return true;
}

void WebSocketCall::read_failed(const beast::error_code& error) {
  if (over_) return;
  // A close frame came (a failing TCP teardown after it, the peer being quick, changes nothing).
  if (error == websocket::error::closed || peer_sent_close()) {
    spdlog::info("{} {}: the far end closed the stream", transport_, name());
    end("caller_hangup", CloseCode::normal, "");
  } else if (error == websocket::error::message_too_big) {
    protocol_error("a message over the size limit");
  } else {
    spdlog::warn("{} {}: connection lost: {}", transport_, name(), error.message());
    end("connection_lost", CloseCode::none, "");
  }
}

void WebSocketCall::protocol_error(const std::string& what) {
  if (over_) return;
  spdlog::error("{} {}: malformed message from {}: {}; closing the stream", transport_, name(),
                peer_, what);
  error_ = what;
  end("protocol_error", CloseCode::policy_error, "malformed message");
}

void WebSocketCall::end(const std::string& reason, CloseCode code, const std::string& why) {
  if (over_) return;
  if (code != CloseCode::none) goodbye(reason, std::exchange(error_, {}));
  over_ = true;
  if (frames_dropped_ > 0) {
    spdlog::warn("{} {}: {} frames of speech dropped: the far end did not read them", transport_,
                 name(), frames_dropped_);
  }
  if (audio_) {
    audio_->close();
    handler_.stream_ended(call_id_, reason);
    caller_input();
  }
  close_code_ = code;
  close_reason_ = why;
  if (code == CloseCode::none) {
    beast::get_lowest_layer(ws_).close();
    return;
  }
  if (!writing_) {
    writing_ = true;
    asio::co_spawn(ws_.get_executor(), write_loop(), asio::detached);
  }
}

void WebSocketCall::send(std::string message, bool text) {
  if (over_) return;
  outbox_.push_back({std::move(message), text});
  if (writing_) return;
  writing_ = true;
  asio::co_spawn(ws_.get_executor(), write_loop(), asio::detached);
}

asio::awaitable<void> WebSocketCall::write_loop() {
  auto self = shared_from_this();
  while (!outbox_.empty()) {
    ws_.text(outbox_.front().text);
    auto [error, n] = co_await ws_.async_write(asio::buffer(outbox_.front().data),
                                               asio::as_tuple(asio::use_awaitable));
    outbox_.pop_front();
    if (error) {
      outbox_.clear();
      writing_ = false;
      if (!over_ && (error == websocket::error::closed || peer_sent_close())) {
        // The far end's close frame came while we were sending: its hang-up, not a failure.
        spdlog::info("{} {}: the far end closed the stream", transport_, name());
        end("caller_hangup", CloseCode::none, "");
      } else if (!over_) {
        spdlog::warn("{} {}: connection lost: {}", transport_, name(), error.message());
        end("connection_lost", CloseCode::none, "");
      }
      beast::get_lowest_layer(ws_).close();
      co_return;
    }
  }
  if (over_ && close_code_ != CloseCode::none) {
    beast::get_lowest_layer(ws_).expires_after(2s);  // a peer that never answers the close
    auto [error] = co_await ws_.async_close(websocket::close_reason(close_code_, close_reason_),
                                            asio::as_tuple(asio::use_awaitable));
    if (error) beast::get_lowest_layer(ws_).close();
  }
  writing_ = false;
}

bool WebSocketCall::peer_sent_close() const {
  return ws_.reason().code != CloseCode::none;
}

WebSocketCallHost::WebSocketCallHost(std::string thread_name, std::function<void()> wake)
    : thread_name_(std::move(thread_name)), wake_(std::move(wake)) {}

WebSocketCallHost::~WebSocketCallHost() { stop(); }

void WebSocketCallHost::start() {
  asio::co_spawn(io_, tick_loop(), asio::detached);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), thread_name_.substr(0, 15).c_str());
    io_.run();
  });
}

void WebSocketCallHost::stop(std::function<void()> first) {
  if (!thread_.joinable()) return;
  asio::post(io_, [this, first = std::move(first)] {
    if (first) first();
    ticker_.cancel();  // no more frames; calls_ stays whole for the end below
    for (auto& call : calls_) call->shut();
    // The close frames get a moment to go out.
    auto grace = std::make_shared<asio::steady_timer>(io_, 100ms);
    grace->async_wait([this, grace](const boost::system::error_code&) { io_.stop(); });
  });
  thread_.join();
  // A far end that did not finish the closing handshake in time is cut off now, rather than when
  // the io_context goes (its coroutines, suspended, hold the sockets until then).
  for (auto& call : calls_) call->abort();
  calls_.clear();
}

asio::awaitable<void> WebSocketCallHost::tick_loop() {
  auto deadline = SteadyClock::now();
  while (true) {
    deadline += kCallTick;
    ticker_.expires_at(deadline);
    auto [error] = co_await ticker_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (error) co_return;
    const auto now = SteadyClock::now();
    if (now - deadline > 5 * kCallTick) deadline = now;
    std::erase_if(calls_, [now](const auto& call) { return !call->tick(now); });
    if (input_came_.exchange(false, std::memory_order_relaxed) && wake_) wake_();
  }
}

}  // namespace chalkbot
