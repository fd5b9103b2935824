#include "server/admin_api.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "agent/caller_memory.h"
#include "store/record_json.h"

namespace chalkbot {
namespace {

using nlohmann::json;

AdminReply json_reply(int status, const json& body) {
  return {status, "application/json", body.dump(), {}, false};
}

AdminReply error_reply(int status, const std::string& message) {
  return json_reply(status, json{{"error", message}});
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `plus_is_space`: in a query string (form encoding) '+' is a space; in a path it is itself (a
// caller number such as +15551234).
std::string percent_decode(std::string_view in, bool plus_is_space = true) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+' && plus_is_space) {
      out += ' ';
    } else if (in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
               hex_value(in[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    out[percent_decode(pair.substr(0, eq))] =
        eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const auto slash = path.find('/');
    parts.push_back(percent_decode(path.substr(0, slash), false));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return parts;
}

// A query parameter as an integer in [min, max]; `fallback` when absent.
Result<int> int_param(const std::map<std::string, std::string>& query, const std::string& name,
                      int fallback, int min, int max) {
  const auto it = query.find(name);
  if (it == query.end()) return fallback;
  int value = 0;
  const char* end = it->second.data() + it->second.size();
  const auto [ptr, ec] = std::from_chars(it->second.data(), end, value);
  if (it->second.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
    return make_error(name + " must be an integer from " + std::to_string(min) + " to " +
                      std::to_string(max));
  }
  return value;
}

// Call ids are ours (hex); anything else cannot name a call.
bool plausible_id(const std::string& id) {
  return !id.empty() && id.size() <= 64 &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
         });
}

json live_call_json(const LiveCall& c) {
  return {{"id", c.id}, {"from", c.from}, {"to", c.to}, {"started_ms", c.started_ms},
          {"state", c.state}};
}

std::optional<std::int64_t> response_latency_ms(const StageTimes& t) {
  if (!t.speech_end || !t.first_rtp_out) return std::nullopt;
  return *t.first_rtp_out - *t.speech_end;
}

double percentile(std::vector<std::int64_t> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return static_cast<double>(values[std::min(rank, values.size() - 1)]);
}

std::string recording_path(const std::string& dir, const std::string& id) {
  return dir + "/" + id + ".wav";
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Compares without stopping at the first difference, so timing does not reveal the token.
bool constant_time_equal(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The Origin header ("http://host:port") names the server the page came from (Host).
bool same_origin(const std::string& origin, const std::string& host) {
  const auto scheme = origin.find("://");
  return scheme != std::string::npos && !host.empty() && origin.substr(scheme + 3) == host;
}

}  // namespace

std::vector<StageBar> stage_bars(const StageTimes& t) {
  std::vector<StageBar> bars;
  const auto bar = [&](const char* name, const std::optional<std::int64_t>& from,
                       const std::optional<std::int64_t>& to) {
    if (from && to && *to >= *from) bars.push_back({name, *from, *to});
  };
  bar("speech", t.speech_start, t.speech_end);
  bar("endpoint", t.speech_end, t.endpoint);
  bar("asr", t.endpoint, t.asr_done);
  bar("llm_first_token", t.asr_done, t.llm_first_token);
  bar("first_sentence", t.llm_first_token, t.first_sentence);
  bar("tts_first_audio", t.first_sentence, t.tts_first_audio);
  bar("first_rtp_out", t.tts_first_audio, t.first_rtp_out);
  return bars;
}

AdminApi::AdminApi(AdminHooks hooks, ConversationStore& store, MetricRegistry& registry,
                   AdminOptions options)
    : hooks_(std::move(hooks)), store_(store), registry_(registry), options_(std::move(options)) {}

bool AdminApi::authorized(const AdminRequest& request,
                          const std::map<std::string, std::string>& query,
                          AdminReply& refusal) const {
  if (options_.token.empty()) return true;
  std::string presented;
  constexpr std::string_view kBearer = "Bearer ";
  if (request.authorization.starts_with(kBearer)) {
    presented = request.authorization.substr(kBearer.size());
  } else if (const auto it = query.find("token"); it != query.end()) {
    presented = it->second;  // EventSource and <audio> cannot send headers
  }
  if (presented.empty()) {
    refusal = error_reply(401, "missing bearer token (Authorization: Bearer ...)");
    refusal.headers["WWW-Authenticate"] = "Bearer";
    return false;
  }
  if (!constant_time_equal(presented, options_.token)) {
    refusal = error_reply(403, "wrong bearer token");
    return false;
  }
  return true;
}

AdminReply AdminApi::handle(const AdminRequest& request) const {
  const std::string_view target = request.target;
  const auto question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const auto query =
      question == std::string_view::npos ? std::map<std::string, std::string>{}
                                         : parse_query(target.substr(question + 1));
  const auto parts = split_path(path);
  const bool get = request.method == "GET" || request.method == "HEAD";

  // Health checks and the dashboard's files need no token: they carry no call data.
  if (path == "/healthz") {
    return get ? json_reply(200, {{"status", "ok"}}) : error_reply(405, "use GET");
  }
  if (path == "/readyz") {
    if (!get) return error_reply(405, "use GET");
    const Status ready = hooks_.ready ? hooks_.ready() : Status{};
    if (!ready) return json_reply(503, {{"status", "not ready"}, {"error", ready.error().message}});
    return json_reply(200, {{"status", "ready"}});
  }
  const bool api = !parts.empty() && (parts[0] == "api" || parts[0] == "metrics");
  if (!api) {
    if (!get) return error_reply(405, "use GET");
    return static_file(std::string(path));
  }

  AdminReply refusal;
  if (!authorized(request, query, refusal)) return refusal;

  if (parts.size() == 1 && parts[0] == "metrics") {
    if (!get) return error_reply(405, "use GET");
    return {200, "text/plain; version=0.0.4; charset=utf-8", registry_.expose(), {}, false};
  }
  // parts[0] == "api"
  if (parts.size() == 2 && parts[1] == "calls") {
    if (!get) return error_reply(405, "use GET");
    return calls_page(query);
  }
  if (parts.size() == 2 && parts[1] == "live") {
    if (!get) return error_reply(405, "use GET");
    return {200, "application/json", live_json(), {}, false};
  }
  if (parts.size() == 3 && parts[1] == "live" && parts[2] == "stream") {
    if (!get) return error_reply(405, "use GET");
    return {200, "text/event-stream", "", {{"Cache-Control", "no-cache"}}, true};
  }
  if (parts.size() == 2 && parts[1] == "talk") {
    if (request.method != "GET") return error_reply(405, "use GET");
    if (!request.websocket) {
      return error_reply(426, "the Talk page's call is a WebSocket (Upgrade: websocket)");
    }
    // WebSockets are not bound by the same-origin policy: without this any page the operator
    // visits could call the bot through their browser (the token aside, loopback is open).
    if (!request.origin.empty() && !same_origin(request.origin, request.host)) {
      return error_reply(403, "a WebSocket from another origin (" + request.origin + ")");
    }
    AdminReply reply = json_reply(101, json::object());
    reply.talk = true;
    return reply;
  }
  if (parts.size() == 3 && parts[1] == "memory") return caller_memory(request, parts[2]);
  if (parts.size() == 2 && parts[1] == "latency") {
    if (!get) return error_reply(405, "use GET");
    return latency(query);
  }
  if (parts.size() >= 3 && parts.size() <= 4 && parts[1] == "calls") {
    const std::string& id = parts[2];
    const std::string action = parts.size() == 4 ? parts[3] : "";
    if (action.empty()) {
      if (!get) return error_reply(405, "use GET");
      return call_detail(id);
    }
    if (action == "audio") {
      if (!get) return error_reply(405, "use GET");
      return call_audio(id);
    }
    if (action == "hangup") {
      if (request.method != "POST") return error_reply(405, "use POST");
      if (plausible_id(id) && hooks_.hang_up && hooks_.hang_up(id)) {
        return json_reply(202, {{"id", id}, {"status", "hanging up"}});
      }
      return error_reply(404, "no call in progress with id '" + id + "'");
    }
  }
  return error_reply(404, "no such endpoint: " + std::string(path));
}

// GET: a caller's summaries (memory across calls); DELETE: forget the caller. `caller` is an
// identity or a From URI ("sip:+15551234@pbx" means "+15551234").
AdminReply AdminApi::caller_memory(const AdminRequest& request, const std::string& raw) const {
  const std::string caller = caller_identity(raw);
  if (caller.empty()) return error_reply(400, "'" + raw + "' names no caller");
  if (request.method == "DELETE") {
    auto erased = hooks_.forget_caller ? hooks_.forget_caller(caller) : store_.forget_caller(caller);
    if (!erased) return error_reply(500, erased.error().message);
    return json_reply(200, {{"caller", caller}, {"erased", *erased}});
  }
  if (request.method != "GET" && request.method != "HEAD") return error_reply(405, "use GET or DELETE");
  constexpr int kMostShown = 1000;
  auto summaries = store_.summaries(caller, kMostShown);
  if (!summaries) return error_reply(500, summaries.error().message);
  json list = json::array();
  for (const CallerSummary& s : *summaries) {
    list.push_back({{"call_id", s.call_id}, {"created_ms", s.created_ms}, {"text", s.text}});
  }
  return json_reply(200, {{"caller", caller}, {"summaries", list}});
}

std::string AdminApi::live_json() const {
  json calls = json::array();
  if (hooks_.live_calls) {
    for (const LiveCall& c : hooks_.live_calls()) calls.push_back(live_call_json(c));
  }
  return json{{"calls", calls}}.dump();
}

AdminReply AdminApi::calls_page(const std::map<std::string, std::string>& query) const {
  const auto offset = int_param(query, "offset", 0, 0, 1000000000);
  if (!offset) return error_reply(400, offset.error().message);
  const auto limit = int_param(query, "limit", 20, 1, kMaxPageSize);
  if (!limit) return error_reply(400, limit.error().message);
  const auto total = store_.count_calls();
  if (!total) return error_reply(500, total.error().message);
  const auto page = store_.list_calls(*offset, *limit);
  if (!page) return error_reply(500, page.error().message);
  json calls = json::array();
  for (const CallRecord& c : *page) calls.push_back(call_json(c));
  return json_reply(200, {{"calls", calls}, {"offset", *offset}, {"limit", *limit}, {"total", *total}});
}

AdminReply AdminApi::call_detail(const std::string& id) const {
  if (!plausible_id(id)) return error_reply(404, "no call with id '" + id + "'");
  const auto call = store_.call(id);
  if (!call) return error_reply(500, call.error().message);
  if (!call->has_value()) return error_reply(404, "no call with id '" + id + "'");
  const auto turns = store_.turns(id);
  if (!turns) return error_reply(500, turns.error().message);
  json out = call_json(**call);
  json list = json::array();
  for (const TurnRecord& t : *turns) {
    json turn = turn_json(t);
    json bars = json::array();
    for (const StageBar& b : stage_bars(t.times)) {
      bars.push_back({{"stage", b.name}, {"start_ms", b.start_ms}, {"end_ms", b.end_ms}});
    }
    turn["stages"] = bars;
    const auto latency = response_latency_ms(t.times);
    turn["response_latency_ms"] = latency ? json(*latency) : json(nullptr);
    list.push_back(std::move(turn));
  }
  out["turns"] = list;
  const auto tools = store_.tool_calls(id);
  if (!tools) return error_reply(500, tools.error().message);
  json tool_list = json::array();
  for (const ToolCallRecord& t : *tools) tool_list.push_back(tool_call_json(t));
  out["tool_calls"] = std::move(tool_list);
  out["recording"] = !options_.recording_dir.empty() &&
                     std::ifstream(recording_path(options_.recording_dir, id)).good();
  return json_reply(200, out);
}

AdminReply AdminApi::call_audio(const std::string& id) const {
  if (!plausible_id(id)) return error_reply(404, "no call with id '" + id + "'");
  if (options_.recording_dir.empty()) {
    return error_reply(404, "recording is off (recording.enabled)");
  }
  auto audio = read_file(recording_path(options_.recording_dir, id));
  if (!audio) return error_reply(404, "no recording of call '" + id + "'");
  return {200, "audio/wav", std::move(*audio), {}, false};
}

AdminReply AdminApi::latency(const std::map<std::string, std::string>& query) const {
  const auto count = int_param(query, "calls", 50, 1, kMaxPageSize);
  if (!count) return error_reply(400, count.error().message);
  const auto calls = store_.list_calls(0, *count);
  if (!calls) return error_reply(500, calls.error().message);
  json points = json::array();
  // Oldest first, so the chart reads left to right.
  for (auto it = calls->rbegin(); it != calls->rend(); ++it) {
    const auto turns = store_.turns(it->id);
    if (!turns) return error_reply(500, turns.error().message);
    std::vector<std::int64_t> latencies;
    for (const TurnRecord& t : *turns) {
      if (t.role != "assistant") continue;
      if (auto l = response_latency_ms(t.times)) latencies.push_back(*l);
    }
    if (latencies.empty()) continue;
    points.push_back({{"id", it->id}, {"started_ms", it->started_ms},
                      {"turns", latencies.size()},
                      {"p50_ms", percentile(latencies, 0.5)},
                      {"p95_ms", percentile(latencies, 0.95)},
                      {"max_ms", percentile(latencies, 1.0)}});
  }
  return json_reply(200, {{"points", points}});
}

AdminReply AdminApi::static_file(const std::string& path) const {
  std::string name = path == "/" ? "index.html" : path.substr(1);
  // Only plain file names in the web directory: no sub-directories, no dot files, no "..".
  const bool plain = !name.empty() && name[0] != '.' &&
                     std::all_of(name.begin(), name.end(), [](char c) {
                       return std::isalnum(static_cast<unsigned char>(c)) || c == '.' ||
                              c == '-' || c == '_';
                     });
  if (!plain) return error_reply(404, "not found: " + path);
  auto body = read_file(options_.web_dir + "/" + name);
  if (!body) return error_reply(404, "not found: " + path);
  std::string type = "application/octet-stream";
  const auto ends = [&](std::string_view ext) { return name.ends_with(ext); };
  if (ends(".html")) type = "text/html; charset=utf-8";
  if (ends(".js")) type = "text/javascript; charset=utf-8";
  if (ends(".css")) type = "text/css; charset=utf-8";
  if (ends(".svg")) type = "image/svg+xml";
  if (ends(".png")) type = "image/png";
  return {200, type, std::move(*body), {{"Cache-Control", "no-cache"}}, false};
}

}  // namespace chalkbot
