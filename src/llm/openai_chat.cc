// OpenAI-compatible streaming Chat Completions client: POST {base_url}/chat/completions with
// stream:true, SSE parsed by complete events, retries only before the first token reached the
// sink. Every *_ms setting of 0 means "no limit" (retry_budget_ms 0: retries bounded only by
// max_retries). retry_budget_ms bounds the whole wait for the first token, every attempt and
// Retry-After included: on a phone call that wait is silence.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <optional>

#include "core/clock.h"
#include "core/retry.h"
#include "core/settings.h"
#include "llm/chat_model.h"
#include "llm/sse_parser.h"
#include "net/http.h"

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

class OpenAiChat final : public ChatModel {
 public:
  explicit OpenAiChat(const LlmSettings& settings)
      : settings_(settings),
        url_(strip_trailing_slash(settings.base_url) + "/chat/completions"),
        retry_policy_(chat_retry_policy(settings)) {}

  Result<ChatReply> stream(const std::vector<ChatMessage>& messages, const TokenSink& sink,
                           const CancelToken& cancel) override {
    const std::string body = request_body(messages);
    ChatReply reply;
    reply.attempts = 0;
    // The caller waits in silence until the first token: all attempts share one deadline.
    std::optional<SteadyClock::time_point> first_token_deadline;
    if (settings_.retry_budget_ms > 0) {
      first_token_deadline = SteadyClock::now() + Millis(std::max(settings_.retry_budget_ms,
                                                                  settings_.first_token_timeout_ms));
    }
    const Status streamed = retry(retry_policy_, cancel, [&](RetryAttempt& attempt) {
      ++reply.attempts;
      return attempt_once(body, sink, cancel, reply, first_token_deadline, attempt);
    });
    if (!streamed && streamed.error().kind != ErrorKind::kCancelled) return streamed.error();
    if (!streamed) reply.stopped = true;
    return reply;
  }

 private:
  std::string request_body(const std::vector<ChatMessage>& messages) const {
    json msgs = json::array();
    // The configured system prompt leads unless the caller brought its own.
    if (!settings_.system_prompt.empty() && (messages.empty() || messages[0].role != "system")) {
      msgs.push_back({{"role", "system"}, {"content", settings_.system_prompt}});
    }
    for (const auto& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
    json body = {{"model", settings_.model},
                 {"messages", std::move(msgs)},
                 {"stream", true},
                 {"temperature", settings_.temperature}};
    if (settings_.max_tokens > 0) body["max_tokens"] = settings_.max_tokens;
    return body.dump(-1, ' ', false, json::error_handler_t::replace);
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

  // One request. Success when the stream completed or was stopped (reply.stopped); once a token
  // reached the sink the attempt is final: a failure after that is not retried.
  Status attempt_once(const std::string& body, const TokenSink& sink, const CancelToken& cancel,
                      ChatReply& reply, std::optional<SteadyClock::time_point> first_token_deadline,
                      RetryAttempt& attempt) const {
    SseParser parser;
    bool delivered = false;
    bool done = false;
    bool stopped = false;
    std::optional<Error> stream_error;

    HttpRequest request = json_post(url_, body, settings_.api_key);
    request.headers.push_back({"Accept", "text/event-stream"});
    request.connect_timeout_ms = settings_.connect_timeout_ms;
    request.total_timeout_ms = settings_.total_timeout_ms;
    request.stall_timeout_ms = settings_.stall_timeout_ms;
    const auto started = SteadyClock::now();
    const int first_token_ms = settings_.first_token_timeout_ms;
    if (first_token_ms > 0 || first_token_deadline) {
      request.should_abort = [&] {
        if (delivered) return false;
        const auto now = SteadyClock::now();
        return (first_token_ms > 0 && now - started >= Millis(first_token_ms)) ||
               (first_token_deadline && now >= *first_token_deadline);
      };
    }

    const BodySink on_bytes = [&](std::string_view bytes) {
      for (auto& event : parser.feed(bytes)) {
        if (event.data == "[DONE]") {
          done = true;
          return false;
        }
        const json chunk = json::parse(event.data, nullptr, false);
        if (chunk.is_discarded() || !chunk.is_object()) {
          stream_error = make_error(
              ErrorKind::kMalformed,
              "malformed event JSON in the chat stream: " + event.data.substr(0, 120));
          return false;
        }
        if (chunk.contains("error")) {
          const json& e = chunk["error"];
          std::string message = e.is_object() && e.contains("message") && e["message"].is_string()
                                    ? e["message"].get<std::string>()
                                    : e.dump();
          stream_error = make_error(ErrorKind::kServerError,
                                    "the server reported an error mid-stream: " + redact(message));
          return false;
        }
        const auto choices = chunk.find("choices");
        if (choices == chunk.end() || !choices->is_array() || choices->empty()) continue;
        const json& choice = choices->at(0);
        if (!choice.is_object()) continue;
        const auto delta = choice.find("delta");
        if (delta == choice.end() || !delta->is_object()) continue;
        const auto content = delta->find("content");
        if (content == delta->end() || !content->is_string()) continue;
        const auto& text = content->get_ref<const std::string&>();
        if (text.empty()) continue;
        delivered = true;
        reply.text += text;
        if (!sink(text)) {
          stopped = true;
          return false;
        }
      }
      if (parser.overflowed()) {
        stream_error = make_error(ErrorKind::kMalformed, "chat stream line too long");
        return false;
      }
      return true;
    };

    const HttpResponse response = http_perform(request, on_bytes, cancel);
    attempt.final = delivered;
    if (done) return {};
    if (stopped || response.outcome == HttpOutcome::kCancelled) {
      reply.stopped = true;
      return {};
    }
    if (stream_error) return *stream_error;
    if (response.status != 0 && (response.status < 200 || response.status >= 300)) {
      return http_failure(response);
    }
    switch (response.outcome) {
      case HttpOutcome::kAborted:
        return make_error(
            ErrorKind::kTimeout,
            "chat completion: no token within " +
                std::to_string(
                    std::chrono::duration_cast<Millis>(SteadyClock::now() - started).count()) +
                " ms (first-token timeout " + std::to_string(first_token_ms) +
                " ms, retry budget " + std::to_string(settings_.retry_budget_ms) + " ms)");
      case HttpOutcome::kConnectFailed:
        return http_error(response,
                          "chat completion: cannot connect to " + url_ + ": " + response.error);
      case HttpOutcome::kTimedOut:
        return http_error(response, "chat completion: " +
                                        (response.error.starts_with("no data")
                                             ? response.error + " (llm.stall_timeout_ms)"
                                             : "total timeout of " +
                                                   std::to_string(settings_.total_timeout_ms) +
                                                   " ms reached"));
      case HttpOutcome::kComplete:
        return make_error(ErrorKind::kReset, "chat stream closed without [DONE]");
      default:
        return http_error(response, "chat stream broke before [DONE]: " + response.error);
    }
  }

  const LlmSettings settings_;  // immutable after construction: stream() is thread-safe
  const std::string url_;
  const RetryPolicy retry_policy_;
};

}  // namespace

Result<std::unique_ptr<ChatModel>> make_chat_model(const LlmSettings& settings) {
  if (settings.base_url.empty()) return make_error("llm.base_url: empty");
  if (!settings.base_url.starts_with("http://") && !settings.base_url.starts_with("https://")) {
    return make_error("llm.base_url: '" + settings.base_url + "' is not an http(s) URL");
  }
  if (settings.model.empty()) return make_error("llm.model: empty");
  return std::unique_ptr<ChatModel>(std::make_unique<OpenAiChat>(settings));
}

}  // namespace chalkbot
