// OpenAI-compatible streaming Chat Completions client: POST {base_url}/chat/completions with
// stream:true, SSE parsed by complete events, retries only before the first token reached the
// sink. Every stream runs on the process's HttpEngine, its retry waits on the engine's timers (no
// thread per request); the blocking stream() waits for one. Every *_ms setting of 0 means "no
// limit" (retry_budget_ms 0: retries bounded only by max_retries). retry_budget_ms bounds the
// whole wait for the first token, every attempt and Retry-After included: on a phone call that
// wait is silence.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>

#include "core/clock.h"
#include "core/retry.h"
#include "core/settings.h"
#include "llm/chat_model.h"
#include "llm/sse_parser.h"
#include "net/http.h"
#include "net/http_engine.h"

namespace chalkbot {
namespace {

using nlohmann::json;

// Retries happen only before the first token: the caller must not hear an answer's start twice.
RetryPolicy chat_retry_policy(const LlmSettings& settings) {
  RetryPolicy policy;
  policy.max_attempts = std::max(0, settings.max_retries) + 1;
  policy.first_backoff = Millis(250);
  policy.max_backoff = Millis(4000);
  if (settings.retry_budget_ms > 0) policy.budget = Millis(settings.retry_budget_ms);
  policy.budget_key = "llm.retry_budget_ms";
  return policy;
}

std::string strip_trailing_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

json message_json(const ChatMessage& m) {
  json message = {{"role", m.role}, {"content", m.content}};
  if (!m.tool_calls.empty()) {
    json calls = json::array();
    for (const ToolCall& call : m.tool_calls) {
      calls.push_back({{"id", call.id},
                       {"type", "function"},
                       {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
    }
    message["tool_calls"] = std::move(calls);
    // An assistant turn that only called tools has no text: the API wants null, not "".
    if (m.content.empty()) message["content"] = nullptr;
  }
  if (!m.tool_call_id.empty()) message["tool_call_id"] = m.tool_call_id;
  return message;
}

std::string chat_body(const LlmSettings& settings, const std::vector<ChatMessage>& messages,
                      const json& tools) {
  json msgs = json::array();
  // The configured system prompt leads unless the caller brought its own.
  if (!settings.system_prompt.empty() && (messages.empty() || messages[0].role != "system")) {
    msgs.push_back({{"role", "system"}, {"content", settings.system_prompt}});
  }
  for (const auto& m : messages) msgs.push_back(message_json(m));
  json body = {{"model", settings.model},
               {"messages", std::move(msgs)},
               {"stream", true},
               {"temperature", settings.temperature}};
  if (settings.max_tokens > 0) body["max_tokens"] = settings.max_tokens;
  if (!tools.empty()) body["tools"] = tools;
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

class OpenAiChat final : public ChatModel {
 public:
  OpenAiChat(const LlmSettings& settings, nlohmann::json tools)
      : settings_(settings),
        tools_(std::move(tools)),
        url_(strip_trailing_slash(settings.base_url) + "/chat/completions"),
        retry_policy_(chat_retry_policy(settings)) {}

  Result<ChatReply> stream(const std::vector<ChatMessage>& messages, const TokenSink& sink,
                           const CancelToken& cancel) override {
    return stream_and_wait(*this, messages, sink, cancel);
  }

  std::unique_ptr<ChatStream> start_stream(std::vector<ChatMessage> messages, TokenSink sink,
                                           StreamDone on_done) override;

  const LlmSettings& settings() const { return settings_; }
  const std::string& url() const { return url_; }
  const RetryPolicy& retry_policy() const { return retry_policy_; }

  // The request of one attempt (the body sink and should_abort are the attempt's to set).
  HttpRequest request(const std::string& body) const {
    HttpRequest request = json_post(url_, body, settings_.api_key);
    request.headers.push_back({"Accept", "text/event-stream"});
    request.connect_timeout_ms = settings_.connect_timeout_ms;
    request.total_timeout_ms = settings_.total_timeout_ms;
    request.stall_timeout_ms = settings_.stall_timeout_ms;
    return request;
  }

  std::string request_body(const std::vector<ChatMessage>& messages) const {
    return chat_body(settings_, messages, tools_);
  }

  // Error text never contains the key, even when a server echoes it back.
  std::string redact(std::string text) const {
    return redact_secrets(std::move(text), settings_.api_key);
  }

  Error http_failure(const HttpResponse& response) const {
    std::string server_message;
    std::string code;
    const json parsed = json::parse(response.body, nullptr, false);
    if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_object()) {
      const json& e = parsed["error"];
      if (e.contains("message") && e["message"].is_string()) server_message = e["message"];
      if (e.contains("code") && e["code"].is_string()) code = e["code"];
    } else {
      server_message = response.body.substr(0, 200);
    }
    std::string message = "chat completion failed: HTTP " + std::to_string(response.status);
    if (!code.empty()) message += " (" + code + ")";
    if (!server_message.empty()) message += ": " + redact(server_message);
    return http_error(response, std::move(message));
  }

 private:
  const LlmSettings settings_;  // immutable after construction: streams read it from any thread
  const json tools_;            // the request's `tools` array (empty: none declared)
  const std::string url_;
  const RetryPolicy retry_policy_;
};

// One HTTP request of a stream: turns its SSE body into tokens for the sink and says what the
// attempt came to. Shared by the request's callbacks, so it lives as long as they may run.
class ChatAttempt {
 public:
  ChatAttempt(const OpenAiChat& chat, ChatReply& reply, const TokenSink& sink,
              std::optional<SteadyClock::time_point> first_token_deadline)
      : chat_(chat), reply_(reply), sink_(sink), first_token_deadline_(first_token_deadline) {}

  // The body sink: false ends the transfer ([DONE], the sink stopped, or a broken stream).
  bool on_bytes(std::string_view bytes) {
    for (auto& event : parser_.feed(bytes)) {
      if (event.data == "[DONE]") {
        if (!tool_calls_.empty()) {
          auto calls = tool_calls_.finish();
          if (!calls) {
            stream_error_ = calls.error();
            return false;
          }
          reply_.tool_calls = std::move(*calls);
        }
        done_ = true;
        return false;
      }
      const json chunk = json::parse(event.data, nullptr, false);
      if (chunk.is_discarded() || !chunk.is_object()) {
        stream_error_ =
            make_error(ErrorKind::kMalformed,
                       "malformed event JSON in the chat stream: " + event.data.substr(0, 120));
        return false;
      }
      if (chunk.contains("error")) {
        const json& e = chunk["error"];
        std::string message = e.is_object() && e.contains("message") && e["message"].is_string()
                                  ? e["message"].get<std::string>()
                                  : e.dump();
        stream_error_ = make_error(ErrorKind::kServerError,
                                   "the server reported an error mid-stream: " +
                                       chat_.redact(message));
        return false;
      }
      const auto choices = chunk.find("choices");
      if (choices == chunk.end() || !choices->is_array() || choices->empty()) continue;
      const json& choice = choices->at(0);
      if (!choice.is_object()) continue;
      const auto delta = choice.find("delta");
      if (delta == choice.end() || !delta->is_object()) continue;
      // Text before (or beside) a tool call is still an answer to speak: both are taken.
      const auto tool_call_deltas = delta->find("tool_calls");
      if (tool_call_deltas != delta->end() && !tool_call_deltas->is_null()) {
        if (Status added = tool_calls_.add(*tool_call_deltas); !added) {
          stream_error_ = added.error();
          return false;
        }
        // A tool call is the answer starting: a retry now could run a tool twice.
        delivered_ = true;
      }
      const auto content = delta->find("content");
      if (content == delta->end() || !content->is_string()) continue;
      const auto& text = content->get_ref<const std::string&>();
      if (text.empty()) continue;
      delivered_ = true;
      reply_.text += text;
      if (!sink_(text)) {
        stopped_ = true;
        return false;
      }
    }
    if (parser_.overflowed()) {
      stream_error_ = make_error(ErrorKind::kMalformed, "chat stream line too long");
      return false;
    }
    return true;
  }

  // No token yet within llm.first_token_timeout_ms, or the retry budget's deadline passed.
  bool first_token_late() const {
    if (delivered_) return false;
    const int first_token_ms = chat_.settings().first_token_timeout_ms;
    const auto now = SteadyClock::now();
    return (first_token_ms > 0 && now - started_ >= Millis(first_token_ms)) ||
           (first_token_deadline_ && now >= *first_token_deadline_);
  }

  // Success when the stream completed or was stopped (reply.stopped); once a token reached the
  // sink the attempt is final: a failure after that is not retried.
  Status outcome(const HttpResponse& response, RetryAttempt& attempt) const {
    const LlmSettings& settings = chat_.settings();
    attempt.final = delivered_;
    if (done_) return {};
    if (stopped_ || response.outcome == HttpOutcome::kCancelled) {
      reply_.stopped = true;
      return {};
    }
    if (stream_error_) return *stream_error_;
    if (response.status != 0 && (response.status < 200 || response.status >= 300)) {
      return chat_.http_failure(response);
    }
    switch (response.outcome) {
      case HttpOutcome::kAborted:
        return make_error(
            ErrorKind::kTimeout,
            "chat completion: no token within " +
                std::to_string(
                    std::chrono::duration_cast<Millis>(SteadyClock::now() - started_).count()) +
                " ms (first-token timeout " + std::to_string(settings.first_token_timeout_ms) +
                " ms, retry budget " + std::to_string(settings.retry_budget_ms) + " ms)");
      case HttpOutcome::kConnectFailed:
        return http_error(response, "chat completion: cannot connect to " +
                                        chat_.url() + ": " + response.error);
      case HttpOutcome::kTimedOut:
        return http_error(response, "chat completion: " +
                                        (response.error.starts_with("no data")
                                             ? response.error + " (llm.stall_timeout_ms)"
                                             : "total timeout of " +
                                                   std::to_string(settings.total_timeout_ms) +
                                                   " ms reached"));
      case HttpOutcome::kComplete:
        return make_error(ErrorKind::kReset, "chat stream closed without [DONE]");
      default:
        return http_error(response, "chat stream broke before [DONE]: " + response.error);
    }
  }

 private:
  const OpenAiChat& chat_;
  ChatReply& reply_;
  const TokenSink& sink_;
  const std::optional<SteadyClock::time_point> first_token_deadline_;
  const SteadyClock::time_point started_ = SteadyClock::now();
  SseParser parser_;
  ToolCallAssembler tool_calls_;
  bool delivered_ = false;
  bool done_ = false;
  bool stopped_ = false;
  std::optional<Error> stream_error_;
};

// A stream's attempts and the waits between them, as tasks on the HttpEngine: nothing blocks.
// task_ is the request or wait in flight; every change of it happens under mutex_, so cancel()
// always finds the current one.
class OpenAiChatStream final : public std::enable_shared_from_this<OpenAiChatStream> {
 public:
  OpenAiChatStream(const OpenAiChat& chat, std::string body, TokenSink sink, StreamDone on_done)
      : chat_(chat), body_(std::move(body)), sink_(std::move(sink)), on_done_(std::move(on_done)) {
    reply_.attempts = 0;
    const LlmSettings& settings = chat.settings();
    const RetryPolicy& policy = chat.retry_policy();
    if (policy.budget) attempt_.deadline = SteadyClock::now() + *policy.budget;
    // The caller waits in silence until the first token: all attempts share one deadline.
    if (settings.retry_budget_ms > 0) {
      first_token_deadline_ =
          SteadyClock::now() +
          Millis(std::max(settings.retry_budget_ms, settings.first_token_timeout_ms));
    }
  }

  void start_attempt() {
    const std::lock_guard lock(mutex_);
    if (cancelled_) return;
    ++reply_.attempts;
    attempt_.final = false;
    auto attempt = std::make_shared<ChatAttempt>(chat_, reply_, sink_, first_token_deadline_);
    HttpRequest request = chat_.request(body_);
    request.should_abort = [attempt] { return attempt->first_token_late(); };
    task_ = HttpEngine::shared().start(
        std::move(request), [attempt](std::string_view bytes) { return attempt->on_bytes(bytes); },
        [self = weak_from_this(), attempt](HttpResponse response) {
          if (auto stream = self.lock()) stream->attempt_ended(*attempt, response);
        });
  }

  void cancel() {
    std::shared_ptr<HttpTask> task;
    {
      const std::lock_guard lock(mutex_);
      cancelled_ = true;
      task = task_;
    }
    if (task) task->cancel();  // waits for a callback in progress: it may be on_done_
  }

 private:
  // On the engine's thread, in the request's callback.
  void attempt_ended(const ChatAttempt& attempt, const HttpResponse& response) {
    const Status status = attempt.outcome(response, attempt_);
    if (status) {
      on_done_(std::move(reply_));
      return;
    }
    Error error = status.error();
    const std::optional<Millis> wait =
        retry_detail::next_wait(chat_.retry_policy(), attempt_, error, RetryClock::real());
    if (!wait) {
      on_done_(std::move(error));
      return;
    }
    const std::lock_guard lock(mutex_);
    if (cancelled_) return;
    ++attempt_.number;
    task_ = HttpEngine::shared().after(*wait, [self = weak_from_this()] {
      if (auto stream = self.lock()) stream->start_attempt();
    });
  }

  const OpenAiChat& chat_;
  const std::string body_;
  const TokenSink sink_;
  const StreamDone on_done_;
  std::optional<SteadyClock::time_point> first_token_deadline_;
  // Read and written in the tasks' callbacks, one at a time.
  ChatReply reply_;
  RetryAttempt attempt_;
  std::mutex mutex_;
  bool cancelled_ = false;
  std::shared_ptr<HttpTask> task_;
};

// The handle: dropping it cancels the stream.
class OpenAiChatHandle final : public ChatStream {
 public:
  explicit OpenAiChatHandle(std::shared_ptr<OpenAiChatStream> stream)
      : stream_(std::move(stream)) {}
  ~OpenAiChatHandle() override { stream_->cancel(); }
  void cancel() override { stream_->cancel(); }

 private:
  std::shared_ptr<OpenAiChatStream> stream_;
};

std::unique_ptr<ChatStream> OpenAiChat::start_stream(std::vector<ChatMessage> messages,
                                                     TokenSink sink, StreamDone on_done) {
  auto stream = std::make_shared<OpenAiChatStream>(*this, request_body(messages), std::move(sink),
                                                   std::move(on_done));
  stream->start_attempt();
  return std::make_unique<OpenAiChatHandle>(std::move(stream));
}

}  // namespace

Result<std::string> chat_request_body(const LlmSettings& settings,
                                      const std::vector<ChatMessage>& messages,
                                      const std::vector<ToolSpec>& tools) {
  auto tools_json = tools_request_json(tools);
  if (!tools_json) return tools_json.error();
  return chat_body(settings, messages, *tools_json);
}

Result<std::unique_ptr<ChatModel>> make_chat_model(const LlmSettings& settings,
                                                   std::vector<ToolSpec> tools) {
  if (settings.base_url.empty()) return make_error("llm.base_url: empty");
  if (!settings.base_url.starts_with("http://") && !settings.base_url.starts_with("https://")) {
    return make_error("llm.base_url: '" + settings.base_url + "' is not an http(s) URL");
  }
  if (settings.model.empty()) return make_error("llm.model: empty");
  auto tools_json = tools_request_json(tools);
  if (!tools_json) return tools_json.error();
  return std::unique_ptr<ChatModel>(std::make_unique<OpenAiChat>(settings, std::move(*tools_json)));
}

}  // namespace chalkbot
