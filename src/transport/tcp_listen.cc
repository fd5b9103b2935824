#include "transport/tcp_listen.h"

namespace chalkbot {

Status listen_on(boost::asio::ip::tcp::acceptor& acceptor, const std::string& host, int port,
                 const std::string& key) {
  namespace asio = boost::asio;
  boost::system::error_code error;
  const auto address = asio::ip::make_address(host, error);
  if (error) return make_error(key + ": bad address " + host);
  const asio::ip::tcp::endpoint endpoint(address, static_cast<std::uint16_t>(port));
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
  return {};
}

}  // namespace chalkbot
