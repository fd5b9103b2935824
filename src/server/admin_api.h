#pragma once
// The admin HTTP API without the transport: a request in, a reply out. Routes health checks,
// Prometheus metrics, the calls REST API and the dashboard's static files, and turns every bad
// request into a 4xx with a JSON error body. AdminServer (Beast) carries it over HTTP.
//
// Thread-safe: handle() may run on several threads at once (the hooks and the store must be).
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/metric_registry.h"
#include "core/result.h"
#include "server/gateway.h"
#include "store/conversation_store.h"

namespace chalkbot {

struct AdminRequest {
  std::string method;         // "GET", "POST" ...
  std::string target;         // path and query, e.g. /api/calls?offset=20
  std::string authorization;  // the Authorization header, if any
  bool websocket = false;     // a WebSocket upgrade request
  std::string origin = {};    // the Origin header, if any (browsers send it with a WebSocket)
  std::string host = {};      // the Host header
};

struct AdminReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::map<std::string, std::string> headers;
  // /api/live/stream: the transport keeps the connection open and sends live_json() as
  // server-sent events whenever it changes.
  bool event_stream = false;
  // /api/talk: the transport hands the connection to the browser phone (a WebSocket).
  bool talk = false;
};

// What the API needs from the running server.
struct AdminHooks {
  std::function<std::vector<LiveCall>()> live_calls;
  std::function<bool(const std::string& call_id)> hang_up;
  std::function<Status()> ready;  // SIP listening, store writable, providers configured
  // Erases a caller's summaries (memory across calls), returning how many there were. Empty: the
  // store's forget_caller (a server with a CallerMemory passes its forget, which also drops
  // summaries still being written).
  std::function<Result<std::int64_t>(const std::string& caller)> forget_caller = {};
};

struct AdminOptions {
  std::string token;          // empty: no token needed (loopback only)
  std::string web_dir;        // dashboard files
  std::string recording_dir;  // empty: recording off
};

class AdminApi {
 public:
  AdminApi(AdminHooks hooks, ConversationStore& store, MetricRegistry& registry,
           AdminOptions options);

  AdminReply handle(const AdminRequest& request) const;
  // The calls in progress as JSON ({"calls": [...]}), for /api/live and its event stream.
  std::string live_json() const;

  static constexpr int kMaxPageSize = 200;

 private:
  AdminReply calls_page(const std::map<std::string, std::string>& query) const;
  AdminReply call_detail(const std::string& id) const;
  AdminReply call_audio(const std::string& id) const;
  AdminReply caller_memory(const AdminRequest& request, const std::string& caller) const;
  AdminReply latency(const std::map<std::string, std::string>& query) const;
  AdminReply static_file(const std::string& path) const;
  bool authorized(const AdminRequest& request, const std::map<std::string, std::string>& query,
                  AdminReply& refusal) const;

  AdminHooks hooks_;
  ConversationStore& store_;
  MetricRegistry& registry_;
  AdminOptions options_;
};

// The stages of an answered turn as waterfall bars: {name, start_ms, end_ms} (wall clock), in
// order, for the stages whose two ends were stamped.
struct StageBar {
  std::string name;
  std::int64_t start_ms;
  std::int64_t end_ms;
};
std::vector<StageBar> stage_bars(const StageTimes& times);

}  // namespace chalkbot
