#include "transport/twilio_server.h"

#include <array>
#include <atomic>
#include <chrono>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "media/g711.h"
#include "transport/tcp_listen.h"
#include "transport/twilio_protocol.h"
#include "transport/websocket_call.h"

namespace chalkbot {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr auto kStreamStartTimeout = 5s;      // a stream that has not said "start" by then is dropped
constexpr auto kRequestTimeout = 10s;   // a webhook request must arrive whole by then
constexpr std::size_t kMaxMessage = 64 * 1024;  // a media message is ~300 bytes
constexpr char kVoicePath[] = "/twilio/voice";
constexpr char kStreamPath[] = "/twilio/stream";

std::string header_of(const http::request<http::string_body>& request, std::string_view name) {
  const auto it = request.find(name);
  return it == request.end() ? std::string() : std::string(it->value());
}

// One bidirectional stream: Twilio's JSON messages over the shared WebSocket call.
class Stream final : public WebSocketCall {
 public:
  Stream(Socket ws, StreamCallHandler& handler, std::atomic<bool>& input_came, std::string peer)
      : WebSocketCall(std::move(ws), handler, input_came, std::move(peer), "twilio",
                      kStreamStartTimeout) {}

 private:
  std::optional<std::string> on_message(bool text, std::string_view data) override {
    if (!text) return "a binary frame (messages are JSON text)";
    const json message = json::parse(data, nullptr, false);
    if (message.is_discarded() || !message.is_object() || !message.contains("event") ||
        !message["event"].is_string()) {
      return "not a JSON message with an \"event\"";
    }
    return handle(message.at("event").get<std::string>(), message);
  }

  void send_frame(Samples frame) override {  // 8 kHz: Twilio's streams are u-law 8000
    std::array<std::uint8_t, kFrameSamples> ulaw{};
    g711_encode_into(G711Law::kMuLaw, frame, ulaw);
    const std::string payload = twilio::base64_encode(
        std::string_view(reinterpret_cast<const char*>(ulaw.data()), ulaw.size()));
    send(json{{"event", "media"}, {"streamSid", stream_sid_}, {"media", {{"payload", payload}}}}
             .dump());
  }

  void send_clear() override {
    send(json{{"event", "clear"}, {"streamSid", stream_sid_}}.dump());
  }

  // Twilio echoes the mark once what came before it has played.
  void spurt_ended() override {
    send(json{{"event", "mark"},
              {"streamSid", stream_sid_},
              {"mark", {{"name", "spurt-" + std::to_string(++marks_)}}}}
             .dump());
  }

  // One message from Twilio; what was wrong with it, if anything.
  std::optional<std::string> handle(const std::string& event, const json& message) {
    if (event == "connected") return std::nullopt;
    if (event == "start") {
      if (audio()) return "a second \"start\"";
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
      begin(start->at("callSid").get<std::string>(), start->at("streamSid").get<std::string>(),
            params.is_object() ? params.value("from", "") : "",
            params.is_object() ? params.value("to", "") : "");
      return std::nullopt;
    }
    if (event == "stop") {
      spdlog::info("twilio {}: the call ended (stop)", name());
      end("caller_hangup", CloseCode::normal, "");
      return std::nullopt;
    }
    if (!audio()) return "\"" + event + "\" before \"start\"";
    if (event == "media") {
      const json media = message.value("media", json::object());
      if (!media.is_object() || !media.value("payload", json()).is_string()) {
        return "\"media\" without media.payload";
      }
      if (media.value("track", "inbound") != "inbound") return std::nullopt;  // ours, echoed
      const auto ulaw = twilio::base64_decode(media.at("payload").get<std::string>());
      if (!ulaw) return "media.payload is not base64";
      samples_.resize(ulaw->size());
      g711_decode_into(G711Law::kMuLaw,
                       std::span(reinterpret_cast<const std::uint8_t*>(ulaw->data()), ulaw->size()),
                       samples_);
      audio()->push_caller_audio(samples_, SteadyClock::now());
      caller_input();
      return std::nullopt;
    }
    if (event == "dtmf") {
      const json dtmf = message.value("dtmf", json::object());
      const std::string digit = dtmf.is_object() ? dtmf.value("digit", "") : "";
      if (digit.size() != 1 || std::string_view("0123456789*#ABCD").find(digit[0]) ==
                                   std::string_view::npos) {
        return "\"dtmf\" without a key in dtmf.digit";
      }
      audio()->push_dtmf(digit[0]);
      caller_input();
      return std::nullopt;
    }
    if (event == "mark") return std::nullopt;  // one of ours has played
    return "unknown event \"" + event + "\"";
  }

  void begin(const std::string& call_sid, const std::string& stream_sid, const std::string& from,
             const std::string& to) {
    stream_sid_ = stream_sid;
    const StreamCallStart start{call_sid, from.empty() ? "twilio:" + peer() : from,
                                to.empty() ? "twilio" : to, "twilio"};
    if (!begin_call(start, std::make_shared<StreamedAudio>())) return;
    spdlog::info("twilio {}: call from {} (stream {})", name(), start.from, stream_sid);
  }

  std::string stream_sid_;
  std::uint64_t marks_ = 0;
  std::vector<Sample> samples_;
};

}  // namespace

struct TwilioServer::Impl {
  Impl(TwilioEndpoints ends, StreamCallHandler& calls, std::function<void()> wake_calls)
      : endpoints(std::move(ends)), handler(calls), host("twilio", std::move(wake_calls)) {}

  const TwilioEndpoints endpoints;
  StreamCallHandler& handler;
  WebSocketCallHost host;
  asio::io_context& io = host.io();
  tcp::acceptor acceptor{io};
  std::atomic<int> port{0};
  int connections = 0;  // io thread only

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
          auto call = std::make_shared<Stream>(std::move(ws), handler, host.input_came(), peer);
          host.add(call);
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
  if (auto listening = listen_on(impl_->acceptor, host, port, key); !listening) return listening;
  impl_->port = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  impl_->host.start();
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
  impl_->host.stop([impl = impl_.get()] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
  });
}

}  // namespace chalkbot
