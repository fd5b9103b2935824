#include "transport/twilio_server.h"

#include <pthread.h>

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
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "media/g711.h"
#include "transport/twilio_protocol.h"

namespace chalkbot {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr auto kTick = std::chrono::milliseconds(kFrameMs);
constexpr auto kStartTimeout = 5s;      // a stream that has not said "start" by then is dropped
constexpr auto kRequestTimeout = 10s;   // a webhook request must arrive whole by then
constexpr std::size_t kMaxMessage = 64 * 1024;  // a media message is ~300 bytes
constexpr std::size_t kMaxOutbox = 50;  // messages Twilio has not taken: beyond, it is not reading
constexpr char kVoicePath[] = "/twilio/voice";
constexpr char kStreamPath[] = "/twilio/stream";

std::string header_of(const http::request<http::string_body>& request, std::string_view name) {
  const auto it = request.find(name);
  return it == request.end() ? std::string() : std::string(it->value());
}

// One bidirectional stream; everything on the server's thread.
class Stream : public std::enable_shared_from_this<Stream> {
 public:
  Stream(websocket::stream<beast::tcp_stream> ws, StreamCallHandler& handler,
         std::atomic<bool>& input_came, std::string peer)
      : ws_(std::move(ws)),
        handler_(handler),
        input_came_(input_came),
        peer_(std::move(peer)),
        opened_at_(SteadyClock::now()) {}

  asio::awaitable<void> read_loop() {
    auto self = shared_from_this();
    beast::flat_buffer buffer;
    std::vector<Sample> samples;
    while (!over_) {
      buffer.clear();
      auto [error, n] = co_await ws_.async_read(buffer, asio::as_tuple(asio::use_awaitable));
      if (error) co_return read_failed(error);
      if (over_) co_return;
      if (!ws_.got_text()) co_return protocol_error("a binary frame (messages are JSON text)");
      const std::string text = beast::buffers_to_string(buffer.data());
      const json message = json::parse(text, nullptr, false);
      if (message.is_discarded() || !message.is_object() || !message.contains("event") ||
          !message["event"].is_string()) {
        co_return protocol_error("not a JSON message with an \"event\"");
      }
      if (auto what = handle(message.at("event").get<std::string>(), message, samples)) {
        co_return protocol_error(*what);
      }
    }
  }

  bool tick(SteadyClock::time_point now) {
    if (over_) return false;
    if (!audio_) {
      if (now - opened_at_ > kStartTimeout) {
        spdlog::warn("twilio {}: no \"start\" within 5 s; closing the stream", name());
        end("no_start", websocket::close_code::policy_error, "no start");
        return false;
      }
      return true;
    }
    if (audio_->closed()) {  // the call ended on our side: closing the stream ends <Connect>
      spdlog::info("twilio {}: call over, closing the stream", name());
      end("bot_hangup", websocket::close_code::normal, "");
      return false;
    }
    if (audio_->take_clear()) {
      send(json{{"event", "clear"}, {"streamSid", stream_sid_}}.dump());
    }
    const Frame* frame = audio_->next_frame();
    if (frame == nullptr) {
      if (in_spurt_) {  // Twilio echoes the mark once what came before it has played
        in_spurt_ = false;
        send(json{{"event", "mark"},
                  {"streamSid", stream_sid_},
                  {"mark", {{"name", "spurt-" + std::to_string(++marks_)}}}}
                 .dump());
      }
      return true;
    }
    in_spurt_ = true;
    if (outbox_.size() < kMaxOutbox) {
      std::array<std::uint8_t, kFrameSamples> ulaw{};
      g711_encode_into(G711Law::kMuLaw, *frame, ulaw);
      const std::string payload = twilio::base64_encode(
          std::string_view(reinterpret_cast<const char*>(ulaw.data()), ulaw.size()));
      send(json{{"event", "media"}, {"streamSid", stream_sid_}, {"media", {{"payload", payload}}}}
               .dump());
    } else {
      ++frames_dropped_;
    }
    audio_->frame_sent(now);
    return true;
  }

  void shut() { end("shutdown", websocket::close_code::going_away, "shutting down"); }

 private:
  // One message from Twilio; what was wrong with it, if anything.
  std::optional<std::string> handle(const std::string& event, const json& message,
                                    std::vector<Sample>& samples) {
    if (event == "connected") return std::nullopt;
    if (event == "start") {
      if (audio_) return "a second \"start\"";
      const json* start = message.contains("start") ? &message["start"] : nullptr;
      if (start == nullptr || !start->is_object() || !start->value("callSid", json()).is_string() ||
          !start->value("streamSid", json()).is_string()) {
        return "\"start\" without start.callSid and start.streamSid";
      }
      const json format = start->value("mediaFormat", json::object());
      if (format.value("encoding", "audio/x-mulaw") != "audio/x-mulaw" ||
          format.value("sampleRate", 8000) != 8000 || format.value("channels", 1) != 1) {
        return "media format " + format.dump() + " (u-law 8000 Hz mono expected)";
      }
      const json params = start->value("customParameters", json::object());
      begin_call(start->at("callSid").get<std::string>(), start->at("streamSid").get<std::string>(),
                 params.is_object() ? params.value("from", "") : "",
                 params.is_object() ? params.value("to", "") : "");
      return std::nullopt;
    }
    if (event == "stop") {
      spdlog::info("twilio {}: the call ended (stop)", name());
      end("caller_hangup", websocket::close_code::normal, "");
      return std::nullopt;
    }
    if (!audio_) return "\"" + event + "\" before \"start\"";
    if (event == "media") {
      const json media = message.value("media", json::object());
      if (!media.is_object() || !media.value("payload", json()).is_string()) {
        return "\"media\" without media.payload";
      }
      if (media.value("track", "inbound") != "inbound") return std::nullopt;  // ours, echoed
      const auto ulaw = twilio::base64_decode(media.at("payload").get<std::string>());
      if (!ulaw) return "media.payload is not base64";
      samples.resize(ulaw->size());
      g711_decode_into(G711Law::kMuLaw,
                       std::span(reinterpret_cast<const std::uint8_t*>(ulaw->data()), ulaw->size()),
                       samples);
      audio_->push_caller_audio(samples, SteadyClock::now());
      input_came_.store(true, std::memory_order_relaxed);
      return std::nullopt;
    }
    if (event == "dtmf") {
      const json dtmf = message.value("dtmf", json::object());
      const std::string digit = dtmf.is_object() ? dtmf.value("digit", "") : "";
      if (digit.size() != 1 || std::string_view("0123456789*#ABCD").find(digit[0]) ==
                                   std::string_view::npos) {
        return "\"dtmf\" without a key in dtmf.digit";
      }
      audio_->push_dtmf(digit[0]);
      input_came_.store(true, std::memory_order_relaxed);
      return std::nullopt;
    }
    if (event == "mark") return std::nullopt;  // one of ours has played
    return "unknown event \"" + event + "\"";
  }

  void begin_call(const std::string& call_sid, const std::string& stream_sid,
                  const std::string& from, const std::string& to) {
    call_id_ = call_sid;
    stream_sid_ = stream_sid;
    auto audio = std::make_shared<StreamedAudio>();
    const StreamCallStart start{call_sid, from.empty() ? "twilio:" + peer_ : from,
                                to.empty() ? "twilio" : to, "twilio"};
    if (!handler_.stream_started(start, audio)) {
      spdlog::warn("twilio {}: call refused", name());
      end("refused", websocket::close_code::try_again_later, "refused");
      return;
    }
    audio_ = std::move(audio);
    spdlog::info("twilio {}: call from {} (stream {})", name(), start.from, stream_sid);
  }

  void read_failed(const beast::error_code& error) {
    if (over_) return;
    // A close frame came (a failing TCP teardown after it, the peer being quick, changes nothing).
    if (error == websocket::error::closed || peer_sent_close()) {
      spdlog::info("twilio {}: the far end closed the stream", name());
      end("caller_hangup", websocket::close_code::normal, "");
    } else {
      spdlog::warn("twilio {}: connection lost: {}", name(), error.message());
      end("connection_lost", websocket::close_code::none, "");
    }
  }

  void protocol_error(const std::string& what) {
    if (over_) return;
    spdlog::error("twilio {}: malformed message from {}: {}; closing the stream", name(), peer_,
                  what);
    end("protocol_error", websocket::close_code::policy_error, "malformed message");
  }

  // The stream ends: the call (if any) hears why; the WebSocket is closed with `code` once what
  // is queued has gone (none: the connection is already gone).
  void end(const std::string& reason, websocket::close_code code, const std::string& why) {
    if (over_) return;
    over_ = true;
    if (frames_dropped_ > 0) {
      spdlog::warn("twilio {}: {} frames of speech dropped: Twilio did not read them", name(),
                   frames_dropped_);
    }
    if (audio_) {
      audio_->close();
      handler_.stream_ended(call_id_, reason);
      input_came_.store(true, std::memory_order_relaxed);
    }
    close_code_ = code;
    close_reason_ = why;
    if (code == websocket::close_code::none) {
      beast::get_lowest_layer(ws_).close();
      return;
    }
    if (!writing_) {
      writing_ = true;
      asio::co_spawn(ws_.get_executor(), write_loop(), asio::detached);
    }
  }

  void send(std::string message) {
    outbox_.push_back(std::move(message));
    if (writing_) return;
    writing_ = true;
    asio::co_spawn(ws_.get_executor(), write_loop(), asio::detached);
  }

  asio::awaitable<void> write_loop() {
    auto self = shared_from_this();
    ws_.text(true);
    while (!outbox_.empty()) {
      auto [error, n] = co_await ws_.async_write(asio::buffer(outbox_.front()),
                                                 asio::as_tuple(asio::use_awaitable));
      outbox_.pop_front();
      if (error) {
        outbox_.clear();
        writing_ = false;
        if (!over_ && (error == websocket::error::closed || peer_sent_close())) {
          // The far end's close frame came while we were sending: its hang-up, not a failure.
          spdlog::info("twilio {}: the far end closed the stream", name());
          end("caller_hangup", websocket::close_code::none, "");
        } else if (!over_) {
          spdlog::warn("twilio {}: connection lost: {}", name(), error.message());
          end("connection_lost", websocket::close_code::none, "");
        }
        beast::get_lowest_layer(ws_).close();
        co_return;
      }
    }
    if (over_ && close_code_ != websocket::close_code::none) {
      beast::get_lowest_layer(ws_).expires_after(2s);  // a peer that never answers the close
      auto [error] = co_await ws_.async_close(websocket::close_reason(close_code_, close_reason_),
                                              asio::as_tuple(asio::use_awaitable));
      if (error) beast::get_lowest_layer(ws_).close();
    }
    writing_ = false;
  }

  std::string name() const { return call_id_.empty() ? "(" + peer_ + ")" : call_id_; }
  bool peer_sent_close() const { return ws_.reason().code != websocket::close_code::none; }

  websocket::stream<beast::tcp_stream> ws_;
  StreamCallHandler& handler_;
  std::atomic<bool>& input_came_;
  const std::string peer_;
  const SteadyClock::time_point opened_at_;
  std::string call_id_;
  std::string stream_sid_;
  std::shared_ptr<StreamedAudio> audio_;
  std::deque<std::string> outbox_;
  bool writing_ = false;
  bool over_ = false;
  bool in_spurt_ = false;
  std::uint64_t marks_ = 0;
  std::uint64_t frames_dropped_ = 0;
  websocket::close_code close_code_ = websocket::close_code::normal;
  std::string close_reason_;
};

}  // namespace

struct TwilioServer::Impl {
  Impl(TwilioEndpoints ends, StreamCallHandler& calls, std::function<void()> wake_calls)
      : endpoints(std::move(ends)), handler(calls), wake(std::move(wake_calls)) {}

  const TwilioEndpoints endpoints;
  StreamCallHandler& handler;
  std::function<void()> wake;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  asio::steady_timer ticker{io};
  std::thread thread;
  std::atomic<int> port{0};
  std::atomic<bool> input_came{false};
  std::vector<std::shared_ptr<Stream>> streams;  // io thread only
  int connections = 0;                            // io thread only

  bool signed_right(const http::request<http::string_body>& request, const std::string& url,
                    const twilio::FormFields& fields, const std::string& peer) const {
    const std::string received = header_of(request, "X-Twilio-Signature");
    const bool good = !received.empty() &&
                      twilio::signature_matches(
                          twilio::signature(endpoints.auth_token, url, fields), received);
    if (!good) {
      spdlog::warn("twilio: {} {} from {} refused: {} X-Twilio-Signature", request.method_string(),
                   request.target(), peer, received.empty() ? "no" : "a wrong");
    }
    return good;
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    struct Counted {  // taken by accept_loop; every way out of this coroutine gives it back
      int& count;
      ~Counted() { --count; }
    } counted{connections};
    beast::error_code ignored;
    const std::string peer = socket.remote_endpoint(ignored).address().to_string(ignored);
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    while (true) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(kMaxMessage);
      stream.expires_after(kRequestTimeout);
      auto [error, n] =
          co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      if (error) co_return;
      auto request = parser.release();
      const std::string target(request.target());
      http::response<http::string_body> response{http::status::not_found, request.version()};
      response.set(http::field::server, "chalkbot");
      if (websocket::is_upgrade(request) && target == kStreamPath) {
        if (!signed_right(request, stream_url(endpoints.public_url), {}, peer)) {
          response.result(http::status::forbidden);
        } else {
          stream.expires_never();
          websocket::stream<beast::tcp_stream> ws(std::move(stream));
          ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
          ws.read_message_max(kMaxMessage);
          auto [accept_error] =
              co_await ws.async_accept(request, asio::as_tuple(asio::use_awaitable));
          if (accept_error) co_return;
          auto call = std::make_shared<Stream>(std::move(ws), handler, input_came, peer);
          streams.push_back(call);
          co_await call->read_loop();
          co_return;
        }
      } else if (target == kVoicePath && request.method() == http::verb::post) {
        const auto fields = twilio::parse_form(request.body());
        if (!fields) {
          response.result(http::status::bad_request);
        } else if (!signed_right(request, endpoints.public_url + kVoicePath, *fields, peer)) {
          response.result(http::status::forbidden);
        } else {
          std::string from, to, sid;
          for (const auto& [name, value] : *fields) {
            if (name == "From") from = value;
            if (name == "To") to = value;
            if (name == "CallSid") sid = value;
          }
          spdlog::info("twilio: call {} from {}: answering with a stream", sid, from);
          response.result(http::status::ok);
          response.set(http::field::content_type, "text/xml");
          response.body() =
              twilio::connect_stream_twiml(stream_url(endpoints.public_url), from, to);
        }
      }
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      auto [write_error, m] =
          co_await http::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
      if (write_error || !response.keep_alive()) {
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        co_return;
      }
    }
  }

  asio::awaitable<void> accept_loop() {
    while (true) {
      auto [error, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (error) {
        if (error == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        continue;
      }
      if (connections >= endpoints.max_connections) {
        spdlog::warn("twilio: {} connections open, one more refused", connections);
        continue;  // the socket closes as it goes out of scope
      }
      ++connections;
      asio::co_spawn(io, serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> tick_loop() {
    auto deadline = SteadyClock::now();
    while (true) {
      deadline += kTick;
      ticker.expires_at(deadline);
      auto [error] = co_await ticker.async_wait(asio::as_tuple(asio::use_awaitable));
      if (error) co_return;
      const auto now = SteadyClock::now();
      if (now - deadline > 5 * kTick) deadline = now;
      std::erase_if(streams, [now](const auto& s) { return !s->tick(now); });
      if (input_came.exchange(false, std::memory_order_relaxed) && wake) wake();
    }
  }
};

std::string TwilioServer::stream_url(const std::string& public_url) {
  std::string url = public_url;
  if (url.rfind("https://", 0) == 0) {
    url = "wss://" + url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    url = "ws://" + url.substr(7);
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url + kStreamPath;
}

TwilioServer::TwilioServer(TwilioEndpoints endpoints, StreamCallHandler& handler,
                           std::function<void()> wake)
    : impl_(std::make_unique<Impl>(std::move(endpoints), handler, std::move(wake))) {}

TwilioServer::~TwilioServer() { stop(); }

Status TwilioServer::start(const std::string& host, int port, const std::string& key) {
  boost::system::error_code error;
  const auto address = asio::ip::make_address(host, error);
  if (error) return make_error(key + ": bad address " + host);
  const tcp::endpoint endpoint(address, static_cast<std::uint16_t>(port));
  auto& acceptor = impl_->acceptor;
  if (acceptor.open(endpoint.protocol(), error); !error) {
    acceptor.set_option(asio::socket_base::reuse_address(true), error);
    if (acceptor.bind(endpoint, error); !error) {
      acceptor.listen(asio::socket_base::max_listen_connections, error);
    }
  }
  if (error) {
    return make_error(key + ": cannot listen on " + host + ":" + std::to_string(port) + ": " +
                      error.message());
  }
  impl_->port = acceptor.local_endpoint().port();
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  asio::co_spawn(impl_->io, impl_->tick_loop(), asio::detached);
  impl_->thread = std::thread([this] {
    pthread_setname_np(pthread_self(), "twilio");
    impl_->io.run();
  });
  return {};
}

int TwilioServer::port() const { return impl_->port.load(); }

void TwilioServer::stop_accepting() {
  asio::post(impl_->io, [impl = impl_.get()] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
  });
}

void TwilioServer::stop() {
  if (!impl_->thread.joinable()) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
    for (auto& stream : impl->streams) stream->shut();
    impl->streams.clear();
    auto grace = std::make_shared<asio::steady_timer>(impl->io, 100ms);
    grace->async_wait([impl, grace](const boost::system::error_code&) { impl->io.stop(); });
  });
  impl_->thread.join();
}

}  // namespace chalkbot
