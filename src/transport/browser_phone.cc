#include "transport/browser_phone.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "core/ids.h"
#include "core/log.h"
#include "media/resampler.h"
#include "transport/browser_protocol.h"
#include "transport/websocket_call.h"

namespace chalkbot {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto kPageStartTimeout = 5s;  // a page that has not said "start" by then is closed

// Where a call's transcript goes from its agent's thread to the phone's: open until the phone
// stops, so a call that outlives it posts nowhere rather than into a destroyed io_context.
struct NewsPost {
  std::mutex mutex;
  asio::io_context* io = nullptr;
};

// One call from a Talk page.
class BrowserCall final : public WebSocketCall {
 public:
  BrowserCall(Socket ws, StreamCallHandler& handler, std::atomic<bool>& input_came,
              std::string peer, std::shared_ptr<NewsPost> post, std::string busy)
      : WebSocketCall(std::move(ws), handler, input_came, std::move(peer), "browser",
                      kPageStartTimeout),
        post_(std::move(post)),
        busy_(std::move(busy)) {}

  // On the phone's thread: the news of the call.
  void show(const StreamNews& news) {
    if (std::string message = browser::news_json(news); !message.empty()) send(std::move(message));
  }

 private:
  std::optional<std::string> on_message(bool text, std::string_view data) override {
    if (!text) return audio_in(data);
    auto control = browser::parse_control(data);
    if (!control) return control.error().message;
    switch (control->kind) {
      case browser::Control::Kind::kStart:
        if (audio() || !call_id().empty()) return "a second \"start\"";
        return begin(control->rate);
      case browser::Control::Kind::kDtmf:
        if (!audio()) return "\"dtmf\" before \"start\"";
        audio()->push_dtmf(control->digit);
        caller_input();
        return std::nullopt;
      case browser::Control::Kind::kHangUp:
        spdlog::info("browser {}: the caller hung up", name());
        end("caller_hangup", CloseCode::normal, "");
        return std::nullopt;
    }
    return std::nullopt;
  }

  std::optional<std::string> audio_in(std::string_view data) {
    if (!audio()) return "audio before \"start\"";
    wire_.clear();
    if (auto decoded = browser::decode_audio(data, wire_); !decoded) {
      return decoded.error().message;
    }
    if (up_) {
      const std::vector<Sample> resampled = up_->process(wire_);
      audio()->push_caller_audio(resampled, SteadyClock::now());
    } else {
      audio()->push_caller_audio(wire_, SteadyClock::now());
    }
    caller_input();
    return std::nullopt;
  }

  std::optional<std::string> begin(int rate) {
    if (!busy_.empty()) {  // the phone's own cap: said in the goodbye
      spdlog::warn("browser ({}): call refused: {}", peer(), busy_);
      end("refused", CloseCode::try_again_later, "busy");
      return std::nullopt;
    }
    // The call runs wideband: the page's microphone is resampled to 16 kHz (when it is not
    // already), and the bot's 16 kHz goes down as it is.
    static_assert(browser::kDownRate == kWidebandRate, "the bot's audio goes down as it is");
    auto up = resampler_for_stream(rate, kWidebandRate);
    if (!up) return "no resampler from " + std::to_string(rate) + " Hz";
    up_ = std::move(*up);
    const std::string id = new_id();
    StreamCallStart start{id, "browser:" + peer(), "talk", "browser"};
    std::weak_ptr<BrowserCall> self =
        std::static_pointer_cast<BrowserCall>(shared_from_this());
    start.show = [self, post = post_](StreamNews news) {
      std::lock_guard lock(post->mutex);
      if (post->io == nullptr) return;
      asio::post(*post->io, [self, news = std::move(news)] {
        if (auto call = self.lock()) call->show(news);
      });
    };
    if (begin_call(start, std::make_shared<StreamedAudio>(kWidebandRate))) {
      // Before anything the call says: its news is posted, so it comes after this handler.
      send(browser::started_json(id, browser::kDownRate));
      spdlog::info("browser {}: call from {} ({} Hz up)", name(), start.from, rate);
    }
    return std::nullopt;
  }

  void send_frame(Samples frame) override { send(browser::encode_audio(frame), false); }

  void send_clear() override { send(browser::clear_json()); }

  void goodbye(const std::string& reason, const std::string& error) override {
    std::string why = error;
    if (reason == "refused") {
      why = busy_.empty() ? "the bot takes no more calls now (at its limit, or shutting down)"
                          : busy_;
    }
    send(browser::ended_json(reason, why));
  }

  std::shared_ptr<NewsPost> post_;
  const std::string busy_;  // not empty: over the phone's cap, said when the page starts
  std::optional<Resampler> up_;  // the page's rate to the call's 16 kHz (none when equal)
  std::vector<Sample> wire_;
};

}  // namespace

struct BrowserPhone::Impl {
  Impl(StreamCallHandler& to, std::function<void()> wake, int max)
      : handler(to), host("browser", std::move(wake)), max_calls(max) {
    post->io = &host.io();
  }

  StreamCallHandler& handler;
  WebSocketCallHost host;
  const int max_calls;
  std::shared_ptr<NewsPost> post = std::make_shared<NewsPost>();
  std::atomic<bool> accepting{true};
  int calls = 0;  // the host's thread only: connections taken and not yet over

  asio::awaitable<void> serve(tcp::socket socket, std::string request, std::string peer) {
    struct Counted {
      int& count;
      ~Counted() { --count; }
    } counted{calls};
    const std::string busy =
        calls > max_calls
            ? "too many browser calls at once (" + std::to_string(max_calls) + ", sip.max_calls)"
            : "";
    WebSocketCall::Socket ws(std::move(socket));
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws.read_message_max(browser::kMaxMessageBytes);
    auto [error] =
        co_await ws.async_accept(asio::buffer(request), asio::as_tuple(asio::use_awaitable));
    if (error) {
      spdlog::warn("browser ({}): WebSocket handshake failed: {}", peer, error.message());
      co_return;
    }
    auto call = std::make_shared<BrowserCall>(std::move(ws), handler, host.input_came(),
                                              std::move(peer), post, busy);
    host.add(call);
    co_await call->read_loop();
  }
};

BrowserPhone::BrowserPhone(StreamCallHandler& handler, std::function<void()> wake, int max_calls)
    : impl_(std::make_shared<Impl>(handler, std::move(wake), max_calls)) {}

BrowserPhone::~BrowserPhone() { stop(); }

void BrowserPhone::start() { impl_->host.start(); }

void BrowserPhone::take(int socket, std::string request, std::string peer) {
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  const bool v6 = ::getsockname(socket, reinterpret_cast<sockaddr*>(&local), &length) == 0 &&
                  local.ss_family == AF_INET6;
  boost::system::error_code error;
  // Registering a socket with the io_context is safe from any thread; a socket whose handler
  // never runs (the phone stopped) is closed with it.
  tcp::socket adopted(impl_->host.io());
  adopted.assign(v6 ? tcp::v6() : tcp::v4(), socket, error);
  if (error) {
    spdlog::warn("browser ({}): cannot take the connection: {}", peer, error.message());
    ::close(socket);
    return;
  }
  asio::post(impl_->host.io(), [impl = impl_.get(), adopted = std::move(adopted),
                                request = std::move(request), peer = std::move(peer)]() mutable {
    if (!impl->accepting) return;  // `adopted` closes
    ++impl->calls;
    asio::co_spawn(impl->host.io(),
                   impl->serve(std::move(adopted), std::move(request), std::move(peer)),
                   asio::detached);
  });
}

void BrowserPhone::stop_accepting() { impl_->accepting = false; }

void BrowserPhone::stop() {
  {
    std::lock_guard lock(impl_->post->mutex);
    impl_->post->io = nullptr;
  }
  impl_->accepting = false;
  impl_->host.stop();
}

}  // namespace chalkbot
