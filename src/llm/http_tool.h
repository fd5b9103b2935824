#pragma once
// HTTP tools declared in the flow file (tools.http): the model calls one by name with JSON
// arguments, and the tool becomes one HTTP request on the process's HttpEngine (no thread per
// call). Nothing leaves the process before the arguments pass the tool's JSON Schema and the
// expanded URL's host is one the flow file lists (tools.allowed_hosts); either failure, like a
// failing, slow or unreachable server, is an error result for the model, never an exception.
// Header values written ${NAME} come from the environment at start-up; they are never logged
// and are blanked out of any error text a server echoes back.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/result.h"
#include "llm/tool_calls.h"
#include "net/http.h"
#include "net/http_engine.h"

namespace chalkbot {

// What running a tool came to: `content` goes back to the model as the tool message.
enum class ToolStatus {
  kOk,
  kInvalid,  // the model's arguments: not sent; the model may correct them
  kFailed,   // the tool could not give an answer (error status, timeout, host not allowed ...)
};
struct ToolResult {
  ToolStatus status = ToolStatus::kFailed;
  std::string content;  // the server's answer (capped), or {"error": "..."} when not ok
  bool ok() const { return status == ToolStatus::kOk; }
};

// A result that is not ok: {"error": message}.
ToolResult tool_error(ToolStatus status, const std::string& message);

struct HttpToolSpec {
  ToolSpec spec;          // name, description, parameters: what the model is told
  nlohmann::json schema;  // the parameters, parsed (validated against before any request)
  std::string method;     // GET, POST, PUT, PATCH or DELETE
  // http(s)://host[:port]/path?query with {argument} placeholders, replaced by the argument's
  // value percent-encoded. Arguments not in the URL go in the query (GET, DELETE) or as a JSON
  // object in the body (POST, PUT, PATCH).
  std::string url;
  std::vector<HttpHeader> headers;  // values resolved (secrets included)
  std::vector<std::string> secrets;  // header values that came from the environment
  int timeout_ms = 0;                // the whole request
  std::string filler;                // said when the tool takes longer than filler_after_ms
  int filler_after_ms = 0;
};

// Default limits of a declared tool (README).
inline constexpr int kToolTimeoutMs = 5000;
inline constexpr int kToolFillerAfterMs = 1200;
inline constexpr const char* kToolFiller = "One moment please.";

class HttpTools {
 public:
  HttpTools() = default;
  // Reads tools.http (a JSON array) and tools.allowed_hosts. An error names the key and why, e.g.
  // "tools.http[1] (order_status).url: 'ftp://x' is not an http(s) URL". `reserved` are tool
  // names taken already (the built-ins).
  static Result<HttpTools> from(const std::string& http_json, const std::string& allowed_hosts,
                                const EnvLookup& env, const std::vector<std::string>& reserved);

  const std::vector<HttpToolSpec>& tools() const { return tools_; }
  const HttpToolSpec* find(const std::string& name) const;
  bool host_allowed(const std::string& host, int port) const;

  // The request `call` becomes, or why it cannot be sent: the arguments (not JSON, failing the
  // schema, a placeholder without its argument: ErrorKind::kMalformed) or a host not listed.
  Result<HttpRequest> request_for(const HttpToolSpec& tool, const std::string& arguments) const;

  // Runs `call` on `engine`. A call that cannot be sent is answered at once, on this thread, and
  // nullptr returned; otherwise `done` runs once on the engine's thread, unless the returned task
  // is cancelled first. The HttpTools must outlive the task.
  std::shared_ptr<HttpTask> start(HttpEngine& engine, const ToolCall& call,
                                  std::function<void(ToolResult)> done) const;

 private:
  std::vector<HttpToolSpec> tools_;
  struct AllowedHost {
    std::string host;  // lower case
    int port = 0;      // 0: any
  };
  std::vector<AllowedHost> allowed_;
};

// Splits an http(s) URL into its host (lower case, brackets of an IPv6 literal removed) and port
// (the scheme's default when absent). An error when it is not an http(s) URL with a host.
struct UrlHost {
  std::string host;
  int port = 0;
};
Result<UrlHost> url_host(const std::string& url);

}  // namespace chalkbot
