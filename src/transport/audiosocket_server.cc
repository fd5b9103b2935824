#include "transport/audiosocket_server.h"

#include <pthread.h>

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/log.h"
#include "transport/audiosocket_protocol.h"
#include "transport/tcp_listen.h"

namespace chalkbot {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// A connection that has not said which call it is by then is dropped (a port scan, a stuck peer).
constexpr auto kUuidTimeout = 5s;
// Frames of bot speech the peer has not taken off the socket: beyond this it is not reading,
// and real-time audio that cannot go out now is dropped rather than sent late.
constexpr std::size_t kMaxOutbox = 50;
constexpr auto kAudioSocketTick = std::chrono::milliseconds(kFrameMs);

// One AudioSocket connection; everything on the server's thread.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, StreamCallHandler& handler, std::atomic<bool>& input_came)
      : socket_(std::move(socket)),
        handler_(handler),
        input_came_(input_came),
        accepted_at_(SteadyClock::now()) {
    boost::system::error_code ignored;
    peer_ = socket_.remote_endpoint(ignored).address().to_string(ignored);
    socket_.set_option(tcp::no_delay(true), ignored);  // 20 ms frames must not wait for Nagle
  }

  asio::awaitable<void> read_loop() {
    auto self = shared_from_this();
    std::array<std::uint8_t, audiosocket::kHeaderBytes> header_bytes{};
    std::vector<std::uint8_t> payload;
    std::vector<Sample> samples;
    while (!over_) {
      auto [error, n] = co_await asio::async_read(socket_, asio::buffer(header_bytes),
                                                  asio::as_tuple(asio::use_awaitable));
      if (error) co_return read_failed(error);
      const auto check = audiosocket::read_header(header_bytes);
      if (!check.header) co_return protocol_error(check.error);
      const audiosocket::Header header = *check.header;
      payload.resize(header.length);
      if (header.length > 0) {
        auto [payload_error, m] = co_await asio::async_read(socket_, asio::buffer(payload),
                                                            asio::as_tuple(asio::use_awaitable));
        if (payload_error) co_return read_failed(payload_error);
      }
      if (over_) co_return;
      switch (header.kind) {
        case audiosocket::Kind::kHangup:
          spdlog::info("audiosocket {}: the far end hung up", name());
          co_return end("caller_hangup", false);
        case audiosocket::Kind::kError:
          spdlog::warn("audiosocket {}: the far end reports an error (code {})", name(),
                       payload.empty() ? std::string("none") : std::to_string(payload[0]));
          co_return end("audiosocket_error", false);
        case audiosocket::Kind::kUuid:
          if (audio_) co_return protocol_error("a second UUID on one connection");
          if (!begin_call(audiosocket::format_uuid(
                  std::span<const std::uint8_t, audiosocket::kUuidBytes>(payload.data(),
                                                                         payload.size())))) {
            co_return;
          }
          break;
        case audiosocket::Kind::kDtmf: {
          if (!audio_) co_return protocol_error("a DTMF digit before the UUID");
          const char digit = static_cast<char>(payload[0]);
          if (!audiosocket::is_dtmf_key(digit)) {
            co_return protocol_error("DTMF byte 0x" + hex(payload[0]) + " is not a key");
          }
          audio_->push_dtmf(digit);
          input_came_.store(true, std::memory_order_relaxed);
          break;
        }
        case audiosocket::Kind::kAudio:
          if (!audio_) co_return protocol_error("audio before the UUID");
          audiosocket::decode_audio(payload, samples);
          audio_->push_caller_audio(samples, SteadyClock::now());
          input_came_.store(true, std::memory_order_relaxed);
          break;
      }
    }
  }

  // The server's 20 ms tick: the call's next frame goes out. False once the connection is done.
  bool tick(SteadyClock::time_point now) {
    if (over_) return false;
    if (!audio_) {
      if (now - accepted_at_ > kUuidTimeout) {
        spdlog::warn("audiosocket {}: no UUID within 5 s of connecting; closing the connection",
                     name());
        end("no_uuid", true);
        return false;
      }
      return true;
    }
    if (audio_->closed()) {  // the call ended on our side: tell the far end
      spdlog::info("audiosocket {}: call over, hanging up", name());
      end("bot_hangup", true);
      return false;
    }
    (void)audio_->take_clear();  // Asterisk plays frames as they come: nothing buffered to drop
    if (const Samples frame = audio_->next_frame(); !frame.empty()) {
      if (outbox_.size() < kMaxOutbox) {
        send(audiosocket::encode_audio(frame));
      } else {
        ++frames_dropped_;
      }
      audio_->frame_sent(now);
    }
    return true;
  }

  // The server stops: the call ends as if the far end had gone.
  void shut() { end("shutdown", false); }

 private:
  bool begin_call(const std::string& uuid) {
    call_id_ = uuid;
    auto audio = std::make_shared<StreamedAudio>();
    const StreamCallStart start{uuid, "audiosocket:" + peer_, "audiosocket", "audiosocket"};
    if (!handler_.stream_started(start, audio)) {
      spdlog::warn("audiosocket {}: call refused", name());
      end("refused", true);
      return false;
    }
    audio_ = std::move(audio);
    spdlog::info("audiosocket {}: call from {}", name(), peer_);
    return true;
  }

  void read_failed(const boost::system::error_code& error) {
    if (over_) return;
    if (error == asio::error::eof) {  // the protocol: closing the socket is a hang-up too
      spdlog::info("audiosocket {}: the far end closed the connection", name());
      end("caller_hangup", false);
    } else {
      spdlog::warn("audiosocket {}: connection lost: {}", name(), error.message());
      end("connection_lost", false);
    }
  }

  void protocol_error(const std::string& what) {
    if (over_) return;
    spdlog::error("audiosocket {}: malformed message from {}: {}; closing the connection",
                  name(), peer_, what);
    end("protocol_error", true);
  }

  // The connection ends: the call (if any) hears why; with `say_goodbye` a hang-up message goes
  // out before the socket closes.
  void end(const std::string& reason, bool say_goodbye) {
    if (over_) return;
    over_ = true;
    if (frames_dropped_ > 0) {
      spdlog::warn("audiosocket {}: {} frames of speech dropped: the far end did not read them",
                   name(), frames_dropped_);
    }
    if (audio_) {
      audio_->close();
      handler_.stream_ended(call_id_, reason);
      input_came_.store(true, std::memory_order_relaxed);
    }
    close_when_sent_ = true;
    if (say_goodbye) {
      send(audiosocket::encode(audiosocket::Kind::kHangup));
    } else if (!writing_) {
      close_socket();
    }
  }

  void send(std::vector<std::uint8_t> message) {
    outbox_.push_back(std::move(message));
    if (writing_) return;
    writing_ = true;
    asio::co_spawn(socket_.get_executor(), write_loop(), asio::detached);
  }

  asio::awaitable<void> write_loop() {
    auto self = shared_from_this();
    while (!outbox_.empty()) {
      auto [error, n] = co_await asio::async_write(socket_, asio::buffer(outbox_.front()),
                                                   asio::as_tuple(asio::use_awaitable));
      outbox_.pop_front();
      if (error) {
        outbox_.clear();
        writing_ = false;
        if (!over_) {
          spdlog::warn("audiosocket {}: connection lost: {}", name(), error.message());
          end("connection_lost", false);
        }
        close_socket();
        co_return;
      }
    }
    writing_ = false;
    if (close_when_sent_) close_socket();
  }

  void close_socket() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  std::string name() const { return call_id_.empty() ? "(" + peer_ + ")" : call_id_; }
  static std::string hex(std::uint8_t byte) {
    static constexpr char kHex[] = "0123456789abcdef";
    return {kHex[byte >> 4], kHex[byte & 0x0f]};
  }

  tcp::socket socket_;
  StreamCallHandler& handler_;
  std::atomic<bool>& input_came_;
  const SteadyClock::time_point accepted_at_;
  std::string peer_;
  std::string call_id_;
  std::shared_ptr<StreamedAudio> audio_;
  std::deque<std::vector<std::uint8_t>> outbox_;
  bool writing_ = false;
  bool close_when_sent_ = false;
  bool over_ = false;
  std::uint64_t frames_dropped_ = 0;
};

}  // namespace

struct AudioSocketServer::Impl {
  Impl(StreamCallHandler& calls, std::function<void()> wake_calls)
      : handler(calls), wake(std::move(wake_calls)) {}

  StreamCallHandler& handler;
  std::function<void()> wake;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  asio::steady_timer ticker{io};
  std::thread thread;
  std::atomic<int> port{0};
  std::atomic<bool> input_came{false};
  std::vector<std::shared_ptr<Connection>> connections;  // io thread only

  asio::awaitable<void> accept_loop() {
    while (true) {
      auto [error, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (error) {
        if (error == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        continue;  // e.g. out of file descriptors: the calls in progress go on
      }
      auto connection = std::make_shared<Connection>(std::move(socket), handler, input_came);
      connections.push_back(connection);
      asio::co_spawn(io, connection->read_loop(), asio::detached);
    }
  }

  // Absolute deadlines: a late tick does not push the next ones back.
  asio::awaitable<void> tick_loop() {
    auto deadline = SteadyClock::now();
    while (true) {
      deadline += kAudioSocketTick;
      ticker.expires_at(deadline);
      auto [error] = co_await ticker.async_wait(asio::as_tuple(asio::use_awaitable));
      if (error) co_return;
      const auto now = SteadyClock::now();
      if (now - deadline > 5 * kAudioSocketTick) deadline = now;  // stalled (a suspended VM): start afresh
      std::erase_if(connections, [now](const auto& c) { return !c->tick(now); });
      if (input_came.exchange(false, std::memory_order_relaxed) && wake) wake();
    }
  }
};

AudioSocketServer::AudioSocketServer(StreamCallHandler& handler, std::function<void()> wake)
    : impl_(std::make_unique<Impl>(handler, std::move(wake))) {}

AudioSocketServer::~AudioSocketServer() { stop(); }

Status AudioSocketServer::start(const std::string& host, int port, const std::string& key) {
  if (auto listening = listen_on(impl_->acceptor, host, port, key); !listening) return listening;
  impl_->port = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  asio::co_spawn(impl_->io, impl_->tick_loop(), asio::detached);
  impl_->thread = std::thread([this] {
    pthread_setname_np(pthread_self(), "audiosocket");
    impl_->io.run();
  });
  return {};
}

int AudioSocketServer::port() const { return impl_->port.load(); }

void AudioSocketServer::stop_accepting() {
  asio::post(impl_->io, [impl = impl_.get()] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
  });
}

void AudioSocketServer::stop() {
  if (!impl_->thread.joinable()) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
    for (auto& connection : impl->connections) connection->shut();
    impl->connections.clear();
    // The goodbyes get a moment to go out; then everything stops.
    auto grace = std::make_shared<asio::steady_timer>(impl->io, 100ms);
    grace->async_wait([impl, grace](const boost::system::error_code&) { impl->io.stop(); });
  });
  impl_->thread.join();
}

}  // namespace chalkbot
