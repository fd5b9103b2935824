#include "server/admin_server.h"

#include <atomic>
#include <charconv>
#include <chrono>
#include <sstream>
#include <thread>

#include <pthread.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "core/log.h"
#include "transport/tcp_listen.h"

namespace chalkbot {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr int kMaxConnections = 64;  // an operator's browsers and a scraper, not the public
constexpr auto kIdleTimeout = 30s;
constexpr auto kStreamPoll = 250ms;      // how often the event stream looks for a change
constexpr auto kStreamKeepAlive = 15s;  // a comment line keeps proxies from closing it

}  // namespace

Result<ListenAddress> parse_listen_address(const std::string& listen, const std::string& key) {
  const auto bad = [&](const std::string& why) {
    return make_error(key + ": '" + listen + "' " + why + " (expected host:port)");
  };
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return bad("has no port");
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = -1;
  const std::string port_text = listen.substr(colon + 1);
  const auto [ptr, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() ||
      port < 0 || port > 65535) {
    return bad("has a bad port");
  }
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code error;
  const auto address = asio::ip::make_address(host, error);
  if (error) return bad("is not an IP address");
  return ListenAddress{host, port, address.is_loopback()};
}

struct AdminServer::Impl {
  Impl(const AdminApi& served, BrowserPhone* talk) : api(served), phone(talk) {}

  const AdminApi& api;
  BrowserPhone* phone;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;
  std::atomic<int> port{0};
  int connections = 0;  // io thread only

  asio::awaitable<void> accept_loop() {
    while (true) {
      auto [error, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (error) {
        if (error == asio::error::operation_aborted) co_return;
        continue;  // e.g. out of file descriptors: keep serving the others
      }
      if (connections >= kMaxConnections) continue;  // dropped: socket closes here
      ++connections;
      asio::co_spawn(io, serve(beast::tcp_stream(std::move(socket))), asio::detached);
    }
  }

  asio::awaitable<void> serve(beast::tcp_stream stream) {
    beast::flat_buffer buffer;
    try {
      while (true) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(64 * 1024);
        stream.expires_after(kIdleTimeout);
        co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
        const auto& request = parser.get();
        AdminRequest in{std::string(request.method_string()), std::string(request.target()),
                        std::string(request[http::field::authorization]),
                        websocket::is_upgrade(request), std::string(request[http::field::origin]),
                        std::string(request[http::field::host])};
        AdminReply reply = api.handle(in);
        if (reply.event_stream) {
          co_await stream_live(stream);
          break;
        }
        if (reply.talk && phone != nullptr) {
          // The phone answers the upgrade (101) on its own thread: it gets the socket and the
          // request as it came.
          std::ostringstream upgrade;
          upgrade << request;
          beast::error_code ignored;
          const std::string peer =
              stream.socket().remote_endpoint(ignored).address().to_string(ignored);
          stream.expires_never();
          tcp::socket socket = stream.release_socket();
          const int fd = socket.release(ignored);
          if (fd >= 0) phone->take(fd, upgrade.str(), peer);
          break;
        }
        if (reply.talk) reply = {503, "application/json", R"({"error":"no browser phone"})", {}};
        http::response<http::string_body> response{static_cast<http::status>(reply.status),
                                                   request.version()};
        response.set(http::field::server, "Chalkbot");
        response.set(http::field::content_type, reply.content_type);
        for (const auto& [name, value] : reply.headers) response.set(name, value);
        response.keep_alive(request.keep_alive());
        if (request.method() == http::verb::head) {
          response.content_length(reply.body.size());
        } else {
          response.body() = std::move(reply.body);
          response.prepare_payload();
        }
        co_await http::async_write(stream, response, asio::use_awaitable);
        if (!response.keep_alive()) break;
      }
    } catch (const std::exception&) {
      // The peer went away, timed out or sent garbage: this connection ends, nothing else.
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    --connections;
  }

  // Server-sent events: the live calls now, then again whenever they change.
  asio::awaitable<void> stream_live(beast::tcp_stream& stream) {
    stream.expires_never();
    const std::string header =
        "HTTP/1.1 200 OK\r\nServer: Chalkbot\r\nContent-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\nConnection: close\r\n\r\n";
    co_await asio::async_write(stream, asio::buffer(header), asio::use_awaitable);
    std::string last;
    auto quiet_since = std::chrono::steady_clock::now();
    asio::steady_timer timer(io);
    while (true) {
      std::string live = api.live_json();
      std::string event;
      if (live != last) {
        event = "data: " + live + "\n\n";
        last = std::move(live);
      } else if (std::chrono::steady_clock::now() - quiet_since > kStreamKeepAlive) {
        event = ": keep-alive\n\n";
      }
      if (!event.empty()) {
        quiet_since = std::chrono::steady_clock::now();
        co_await asio::async_write(stream, asio::buffer(event), asio::use_awaitable);
      }
      timer.expires_after(kStreamPoll);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }
};

AdminServer::AdminServer(const AdminApi& api, BrowserPhone* phone)
    : impl_(std::make_unique<Impl>(api, phone)) {}

AdminServer::~AdminServer() { stop(); }

Status AdminServer::start(const ListenAddress& address) {
  if (auto listening = listen_on(impl_->acceptor, address.host, address.port, "admin.listen");
      !listening) {
    return listening;
  }
  impl_->port = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([this] {
    pthread_setname_np(pthread_self(), "admin-http");
    impl_->io.run();
  });
  return {};
}

int AdminServer::port() const { return impl_->port; }

void AdminServer::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->io.stop();
  impl_->thread.join();
}

}  // namespace chalkbot
