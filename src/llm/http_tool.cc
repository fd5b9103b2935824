#include "llm/http_tool.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <set>
#include <sstream>

#include "core/log.h"
#include "llm/tool_schema.h"

namespace chalkbot {
namespace {

using nlohmann::json;

// What the model gets of a tool's answer at most: a page of JSON, not a whole database dump.
constexpr std::size_t kMaxResultChars = 8000;
constexpr int kMaxTimeoutMs = 60'000;

constexpr std::array kToolKeys = {"name",    "description", "parameters", "method", "url",
                                  "headers", "timeout_ms",  "filler",     "filler_after_ms"};

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

bool valid_tool_name(const std::string& name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
         });
}

// Header names whose values are credentials: they must come from the environment.
bool secret_header(const std::string& name) {
  const std::string n = lower(name);
  if (n == "authorization" || n == "proxy-authorization" || n == "cookie") return true;
  for (const char* part : {"key", "token", "secret", "password", "auth"}) {
    if (n.find(part) != std::string::npos) return true;
  }
  return false;
}

// "${NAME}" references in `value` replaced from the environment.
Result<std::string> expand_env(const std::string& value, const EnvLookup& env, bool& used_env) {
  std::string out;
  std::size_t at = 0;
  while (true) {
    const auto open = value.find("${", at);
    if (open == std::string::npos) break;
    const auto close = value.find('}', open);
    if (close == std::string::npos) return make_error("'${' without its '}'");
    const std::string name = value.substr(open + 2, close - open - 2);
    if (name.empty()) return make_error("'${}' names no environment variable");
    const auto found = env ? env(name) : std::nullopt;
    if (!found) return make_error("environment variable " + name + " is not set");
    out += value.substr(at, open - at) + *found;
    used_env = true;
    at = close + 1;
  }
  return out + value.substr(at);
}

std::string percent_encode(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

// The text an argument stands for in a URL: strings as they are, numbers and booleans as JSON.
std::optional<std::string> url_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number() || value.is_boolean()) return value.dump();
  return std::nullopt;
}

// The {placeholder} names of a URL template, in order; an error for an unclosed one.
Result<std::vector<std::string>> placeholders(const std::string& url) {
  std::vector<std::string> names;
  for (std::size_t at = url.find('{'); at != std::string::npos; at = url.find('{', at + 1)) {
    const auto close = url.find('}', at);
    if (close == std::string::npos) return make_error("'{' without its '}'");
    names.push_back(url.substr(at + 1, close - at - 1));
  }
  return names;
}

Result<int> int_field(const json& tool, const char* key, int fallback, int min, int max) {
  const auto it = tool.find(key);
  if (it == tool.end()) return fallback;
  if (!it->is_number_integer() || it->get<long long>() < min || it->get<long long>() > max) {
    return make_error("expected an integer from " + std::to_string(min) + " to " +
                      std::to_string(max) + ", got " + it->dump());
  }
  return static_cast<int>(it->get<long long>());
}

Result<std::string> string_field(const json& tool, const char* key, const std::string& fallback) {
  const auto it = tool.find(key);
  if (it == tool.end()) return fallback;
  if (!it->is_string()) return make_error("expected text, got " + it->dump());
  return it->get<std::string>();
}

// One entry of tools.http; `where` is its name in messages ("tools.http[0] (order_status)").
Result<HttpToolSpec> parse_tool(const json& tool, const std::string& where, const EnvLookup& env) {
  const auto bad = [&](const std::string& key, const std::string& why) {
    return make_error(where + (key.empty() ? "" : "." + key) + ": " + why);
  };
  if (!tool.is_object()) return bad("", "expected a tool (a mapping of name, url, ...)");
  for (const auto& [key, value] : tool.items()) {
    if (std::find(kToolKeys.begin(), kToolKeys.end(), key) == kToolKeys.end()) {
      return bad(key, "unknown key (keys: name, description, parameters, method, url, headers, "
                      "timeout_ms, filler, filler_after_ms)");
    }
  }
  HttpToolSpec out;
  auto name = string_field(tool, "name", "");
  if (!name || !valid_tool_name(*name)) {
    return bad("name", "expected 1 to 64 letters, digits, '_' or '-'");
  }
  out.spec.name = *name;
  auto description = string_field(tool, "description", "");
  if (!description) return bad("description", description.error().message);
  out.spec.description = *description;

  const auto parameters = tool.find("parameters");
  out.schema = parameters == tool.end()
                   ? json{{"type", "object"}, {"properties", json::object()}}
                   : *parameters;
  if (!out.schema.is_object()) return bad("parameters", "expected a JSON Schema (a mapping)");
  if (out.schema.value("type", json("object")) != json("object")) {
    return bad("parameters", "the arguments must be an object (type: object)");
  }
  if (const std::string problem = tools_schema_problem(out.schema); !problem.empty()) {
    return bad("parameters", problem);
  }
  out.spec.parameters_json = out.schema.dump();

  auto method = string_field(tool, "method", "GET");
  if (!method) return bad("method", method.error().message);
  for (char& c : *method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (*method != "GET" && *method != "POST" && *method != "PUT" && *method != "PATCH" &&
      *method != "DELETE") {
    return bad("method", "expected GET, POST, PUT, PATCH or DELETE, got '" + *method + "'");
  }
  out.method = *method;

  auto url = string_field(tool, "url", "");
  if (!url || url->empty()) return bad("url", "required: the http(s) URL the tool requests");
  out.url = *url;
  if (!out.url.starts_with("http://") && !out.url.starts_with("https://")) {
    return bad("url", "'" + out.url + "' is not an http(s) URL");
  }
  auto names = placeholders(out.url);
  if (!names) return bad("url", names.error().message);
  const json properties = out.schema.value("properties", json::object());
  for (const auto& placeholder : *names) {
    if (!properties.is_object() || !properties.contains(placeholder)) {
      return bad("url", "{" + placeholder + "} is not one of the tool's parameters");
    }
  }

  const auto headers = tool.find("headers");
  if (headers != tool.end()) {
    if (!headers->is_object()) return bad("headers", "expected a mapping of name: value");
    for (const auto& [header, value] : headers->items()) {
      if (!value.is_string()) return bad("headers." + header, "expected text");
      bool from_env = false;
      auto expanded = expand_env(value.get<std::string>(), env, from_env);
      if (!expanded) return bad("headers." + header, expanded.error().message);
      if (secret_header(header) && !from_env) {
        return bad("headers." + header,
                   "a credential: write its value as ${ENV_VAR} and set it in the environment "
                   "(secrets are never read from the file)");
      }
      if (from_env && !expanded->empty()) out.secrets.push_back(*expanded);
      out.headers.push_back({header, std::move(*expanded)});
    }
  }
  auto timeout = int_field(tool, "timeout_ms", kToolTimeoutMs, 1, kMaxTimeoutMs);
  if (!timeout) return bad("timeout_ms", timeout.error().message);
  out.timeout_ms = *timeout;
  auto filler = string_field(tool, "filler", kToolFiller);
  if (!filler) return bad("filler", filler.error().message);
  out.filler = *filler;
  auto filler_after = int_field(tool, "filler_after_ms", kToolFillerAfterMs, 0, kMaxTimeoutMs);
  if (!filler_after) return bad("filler_after_ms", filler_after.error().message);
  out.filler_after_ms = *filler_after;
  return out;
}

// What a finished request comes to for the model. Error text never carries a header secret.
ToolResult result_of(const HttpResponse& response, const HttpToolSpec& tool) {
  const auto redact = [&tool](std::string text) {
    for (const auto& secret : tool.secrets) text = redact_secrets(std::move(text), secret);
    return text;
  };
  if (response.success()) {
    std::string body = response.body.empty() ? "{}" : response.body;
    if (body.size() > kMaxResultChars) body = body.substr(0, kMaxResultChars) + " ...(cut)";
    return {ToolStatus::kOk, redact(std::move(body))};
  }
  if (response.outcome == HttpOutcome::kTimedOut) {
    return tool_error(ToolStatus::kFailed, "the tool did not answer within " + std::to_string(tool.timeout_ms) + " ms");
  }
  if (response.outcome == HttpOutcome::kConnectFailed) {
    return tool_error(ToolStatus::kFailed, "cannot connect to the tool's server: " + redact(response.error));
  }
  return tool_error(ToolStatus::kFailed, "the tool failed: " + redact(describe_failure(response)));
}

}  // namespace

ToolResult tool_error(ToolStatus status, const std::string& message) {
  return {status, json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace)};
}

Result<UrlHost> url_host(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return make_error("'" + url + "' is not a URL");
  const std::string scheme = lower(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") {
    return make_error("'" + url + "' is not an http(s) URL");
  }
  const auto start = scheme_end + 3;
  const auto end = url.find_first_of("/?#", start);
  std::string authority = url.substr(start, end == std::string::npos ? end : end - start);
  if (authority.find('@') != std::string::npos) {
    return make_error("'" + url + "': user information in a tool URL is not allowed");
  }
  UrlHost out;
  out.port = scheme == "https" ? 443 : 80;
  std::string port_text;
  if (authority.starts_with("[")) {
    const auto close = authority.find(']');
    if (close == std::string::npos) return make_error("'" + url + "': bad IPv6 address");
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return make_error("'" + url + "': bad host");
      port_text = authority.substr(close + 2);
    }
  } else {
    const auto colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (!port_text.empty()) {
    int port = 0;
    const auto [ptr, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || port < 1 ||
        port > 65535) {
      return make_error("'" + url + "': bad port");
    }
    out.port = port;
  }
  out.host = lower(out.host);
  if (out.host.empty()) return make_error("'" + url + "' has no host");
  return out;
}

Result<HttpTools> HttpTools::from(const std::string& http_json, const std::string& allowed_hosts,
                                  const EnvLookup& env, const std::vector<std::string>& reserved) {
  HttpTools tools;
  std::stringstream list(allowed_hosts);
  std::string entry;
  while (std::getline(list, entry, ',')) {
    entry = trim(entry);
    if (entry.empty()) continue;
    auto parsed = url_host("http://" + entry);
    if (!parsed || entry.find_first_of("/?#{}") != std::string::npos) {
      return make_error("tools.allowed_hosts: '" + entry + "' is not host or host:port");
    }
    const bool has_port = entry.back() != ']' && entry.find(':') != std::string::npos &&
                          std::count(entry.begin(), entry.end(), ':') == 1;
    const bool v6_port = entry.starts_with("[") && entry.find("]:") != std::string::npos;
    tools.allowed_.push_back({parsed->host, has_port || v6_port ? parsed->port : 0});
  }
  if (trim(http_json).empty()) return tools;
  const json declared = json::parse(http_json, nullptr, false);
  if (declared.is_discarded() || !declared.is_array()) {
    return make_error("tools.http: expected a list of tools");
  }
  std::set<std::string> names(reserved.begin(), reserved.end());
  for (std::size_t i = 0; i < declared.size(); ++i) {
    std::string where = "tools.http[" + std::to_string(i) + "]";
    if (declared[i].is_object() && declared[i].contains("name") && declared[i]["name"].is_string()) {
      where += " (" + declared[i]["name"].get<std::string>() + ")";
    }
    auto tool = parse_tool(declared[i], where, env);
    if (!tool) return tool.error();
    if (!names.insert(tool->spec.name).second) {
      return make_error(where + ".name: '" + tool->spec.name + "' is already a tool's name");
    }
    const auto literal_end = tool->url.find_first_of("/?#", tool->url.find("://") + 3);
    const std::string authority = tool->url.substr(0, literal_end);
    if (authority.find('{') == std::string::npos) {
      if (auto host = url_host(tool->url); !host) {
        return make_error(where + ".url: " + host.error().message);
      } else if (!tools.host_allowed(host->host, host->port)) {
        // Not fatal: every call of it is refused (an error result), which a test may want.
        spdlog::warn("{}.url: host {} is not in tools.allowed_hosts: every call of this tool "
                     "will be refused",
                     where, host->host);
      }
    }
    tools.tools_.push_back(std::move(*tool));
  }
  return tools;
}

const HttpToolSpec* HttpTools::find(const std::string& name) const {
  for (const auto& tool : tools_) {
    if (tool.spec.name == name) return &tool;
  }
  return nullptr;
}

bool HttpTools::host_allowed(const std::string& host, int port) const {
  const std::string wanted = lower(host);
  return std::any_of(allowed_.begin(), allowed_.end(), [&](const AllowedHost& allowed) {
    return allowed.host == wanted && (allowed.port == 0 || allowed.port == port);
  });
}

Result<HttpRequest> HttpTools::request_for(const HttpToolSpec& tool,
                                           const std::string& arguments) const {
  const json args = json::parse(arguments, nullptr, false);
  if (args.is_discarded() || !args.is_object()) {
    return make_error(ErrorKind::kMalformed, "the arguments are not a JSON object");
  }
  if (Status valid = validate_tool_arguments(tool.schema, args); !valid) {
    return make_error(ErrorKind::kMalformed, "invalid arguments: " + valid.error().message);
  }
  std::string url;
  std::set<std::string> used;
  std::size_t at = 0;
  for (auto open = tool.url.find('{'); open != std::string::npos;
       open = tool.url.find('{', at)) {
    const auto close = tool.url.find('}', open);
    const std::string name = tool.url.substr(open + 1, close - open - 1);
    const auto value = args.find(name);
    if (value == args.end()) {
      return make_error(ErrorKind::kMalformed, "missing argument '" + name + "' (in the URL)");
    }
    const auto text = url_text(*value);
    if (!text) return make_error(ErrorKind::kMalformed, "argument '" + name + "' cannot go in a URL");
    url += tool.url.substr(at, open - at) + percent_encode(*text);
    used.insert(name);
    at = close + 1;
  }
  url += tool.url.substr(at);
  json rest = json::object();
  for (const auto& [key, value] : args.items()) {
    if (!used.contains(key)) rest[key] = value;
  }
  HttpRequest request;
  request.method = tool.method;
  const bool with_body = tool.method == "POST" || tool.method == "PUT" || tool.method == "PATCH";
  if (with_body) {
    request.body = rest.dump(-1, ' ', false, json::error_handler_t::replace);
    request.headers.push_back({"Content-Type", "application/json"});
  } else if (!rest.empty()) {
    std::string query;
    for (const auto& [key, value] : rest.items()) {
      const auto text = url_text(value);
      query += (query.empty() ? "" : "&") + percent_encode(key) + "=" +
               percent_encode(text ? *text : value.dump());
    }
    url += (url.find('?') == std::string::npos ? "?" : "&") + query;
  }
  auto host = url_host(url);
  if (!host) return make_error("the URL is not usable: " + host.error().message);
  if (!host_allowed(host->host, host->port)) {
    return make_error("host " + host->host + " is not one the flow file allows "
                      "(tools.allowed_hosts)");
  }
  request.url = std::move(url);
  request.headers.push_back({"Accept", "application/json"});
  for (const auto& header : tool.headers) request.headers.push_back(header);
  request.connect_timeout_ms = tool.timeout_ms;
  request.total_timeout_ms = tool.timeout_ms;
  return request;
}

std::shared_ptr<HttpTask> HttpTools::start(HttpEngine& engine, const ToolCall& call,
                                           std::function<void(ToolResult)> done) const {
  const HttpToolSpec* tool = find(call.name);
  if (tool == nullptr) {
    done(tool_error(ToolStatus::kInvalid, "there is no tool named '" + call.name + "'"));
    return nullptr;
  }
  auto request = request_for(*tool, call.arguments);
  if (!request) {
    const bool invalid = request.error().kind == ErrorKind::kMalformed;
    done(tool_error(invalid ? ToolStatus::kInvalid : ToolStatus::kFailed, request.error().message));
    return nullptr;
  }
  return engine.start(std::move(*request), {},
                      [tool, done = std::move(done)](HttpResponse response) {
                        done(result_of(response, *tool));
                      });
}

}  // namespace chalkbot
