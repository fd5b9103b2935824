#pragma once
// The listening socket of each TCP server (AudioSocket, Twilio, the admin API and browser phone).
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "core/result.h"

namespace chalkbot {

// Opens, binds (address reuse on) and listens `acceptor` on host:port, port 0 for any free one.
// Errors name `key`, the setting the address came from ("admin.listen: cannot listen on ...").
Status listen_on(boost::asio::ip::tcp::acceptor& acceptor, const std::string& host, int port,
                 const std::string& key);

}  // namespace chalkbot
