#pragma once
// The admin HTTP server (Boost.Beast): carries AdminApi over HTTP/1.1 on one thread of its own,
// plus the live-calls event stream (server-sent events). Loopback by default; beyond loopback it
// refuses to start without a bearer token. The Talk page's WebSocket (/api/talk), once AdminApi
// has let it through, is handed to the browser phone, which runs the call on its own thread.
#include <memory>
#include <string>

#include "core/result.h"
#include "server/admin_api.h"
#include "transport/browser_phone.h"

namespace chalkbot {

struct ListenAddress {
  std::string host;
  int port = 0;
  bool loopback = true;
};

// Parses a listen setting ("host:port", "[v6]:port"); errors name `key`.
Result<ListenAddress> parse_listen_address(const std::string& listen,
                                           const std::string& key = "admin.listen");

class AdminServer {
 public:
  // `api` and `phone` (null: no Talk page calls) must outlive the server.
  explicit AdminServer(const AdminApi& api, BrowserPhone* phone = nullptr);
  ~AdminServer();  // stops
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and starts serving; returns once listening (port 0 picks a free port).
  Status start(const ListenAddress& address);
  int port() const;
  // Closes every connection and joins the thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chalkbot
