// OpenAI-compatible streaming Chat Completions client: POST {base_url}/chat/completions with
// stream:true, SSE parsed by complete events, retries only before the first token reached the
// sink. Every *_ms setting of 0 means "no limit" (retry_budget_ms 0: retries bounded only by
// max_retries). retry_budget_ms bounds the whole wait for the first token, every attempt and
// Retry-After included: on a phone call that wait is silence.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>
#include <thread>

#include "core/clock.h"
#include "core/settings.h"
#include "llm/chat_model.h"
#include "llm/sse_parser.h"
#include "net/http.h"

namespace chalkbot {
namespace {

using nlohmann::json;

constexpr Millis kBackoffBase{250};
constexpr Millis kBackoffCap{4000};

// Why one attempt failed, and whether trying again may help.
struct AttemptError {
  std::string message;
  bool retryable = false;
  std::optional<Millis> retry_after;  // the server's Retry-After, when it sent one
};

struct AttemptResult {
  std::optional<AttemptError> error;  // empty: success (complete or stopped)
  bool delivered = false;             // a token reached the sink: never retry after that
};

std::string strip_trailing_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

class OpenAiChat final : public ChatModel {
 public:
  explicit OpenAiChat(const LlmSettings& settings)
      : settings_(settings), url_(strip_trailing_slash(settings.base_url) + "/chat/completions") {}

  Result<ChatReply> stream(const std::vector<ChatMessage>& messages, const TokenSink& sink,
                           const CancelToken& cancel) override {
    const std::string body = request_body(messages);
    ChatReply reply;
    reply.attempts = 0;
    const auto started = SteadyClock::now();
    const int max_attempts = std::max(0, settings_.max_retries) + 1;
    // The caller waits in silence until the first token: all attempts share one deadline.
    std::optional<SteadyClock::time_point> first_token_deadline;
    if (settings_.retry_budget_ms > 0) {
      first_token_deadline = started + Millis(std::max(settings_.retry_budget_ms,
                                                       settings_.first_token_timeout_ms));
    }
    while (true) {
      ++reply.attempts;
      AttemptResult attempt = attempt_once(body, sink, cancel, reply, first_token_deadline);
      if (!attempt.error) return reply;
      AttemptError& error = *attempt.error;
      const std::string tried =
          reply.attempts > 1 ? " (after " + std::to_string(reply.attempts) + " attempts)" : "";
      if (!error.retryable || attempt.delivered) return make_error(error.message + tried);
      if (reply.attempts >= max_attempts) return make_error(error.message + tried);

      Millis wait = error.retry_after ? *error.retry_after : backoff(reply.attempts);
      if (settings_.retry_budget_ms > 0) {
        const auto budget_left =
            Millis(settings_.retry_budget_ms) -
            std::chrono::duration_cast<Millis>(SteadyClock::now() - started);
        if (wait > budget_left) {
          if (error.retry_after) {
            const long long left = std::max<long long>(0, budget_left.count());
            return make_error(error.message + tried + "; the server asked to retry after " +
                              std::to_string(wait.count()) + " ms, beyond the remaining retry " +
                              "budget of " + std::to_string(left) + " ms");
          }
          return make_error(error.message + tried + "; retry budget of " +
                            std::to_string(settings_.retry_budget_ms) + " ms used up");
        }
      }
      if (!sleep_unless_cancelled(wait, cancel)) {
        reply.stopped = true;
        return reply;
      }
    }
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

  static Millis backoff(int attempt) {
    // Exponential with jitter in [d/2, d]: spreads many calls retrying after one outage.
    thread_local std::mt19937 rng{std::random_device{}()};
    const auto exp =
        std::min(kBackoffCap.count(), kBackoffBase.count() << std::min(attempt - 1, 8));
    std::uniform_int_distribution<long long> dist(exp / 2, exp);
    return Millis(dist(rng));
  }

  static bool sleep_unless_cancelled(Millis wait, const CancelToken& cancel) {
    const auto until = SteadyClock::now() + wait;
    while (SteadyClock::now() < until) {
      if (cancel.cancelled()) return false;
      std::this_thread::sleep_for(
          std::min<SteadyClock::duration>(Millis(10), until - SteadyClock::now()));
    }
    return !cancel.cancelled();
  }

  // Error text never contains the key, even when a server echoes it back.
  std::string redact(std::string text) const {
    return redact_secrets(std::move(text), settings_.api_key);
  }

  AttemptError http_error(const HttpResponse& response) const {
    AttemptError error;
    const int status = response.status;
    std::string server_message;
    std::string code;
    std::string type;
    const json parsed = json::parse(response.body, nullptr, false);
    if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_object()) {
      const json& e = parsed["error"];
      if (e.contains("message") && e["message"].is_string()) server_message = e["message"];
      if (e.contains("code") && e["code"].is_string()) code = e["code"];
      if (e.contains("type") && e["type"].is_string()) type = e["type"];
    } else {
      server_message = response.body.substr(0, 200);
    }
    error.message = "chat completion failed: HTTP " + std::to_string(status);
    if (!code.empty()) error.message += " (" + code + ")";
    if (!server_message.empty()) error.message += ": " + redact(server_message);
    const bool no_quota = code == "insufficient_quota" || type == "insufficient_quota";
    error.retryable = !no_quota && transient_status(status);
    if (error.retryable) error.retry_after = retry_after_of(response);
    return error;
  }

  AttemptResult attempt_once(const std::string& body, const TokenSink& sink,
                             const CancelToken& cancel, ChatReply& reply,
                             std::optional<SteadyClock::time_point> first_token_deadline) const {
    AttemptResult result;
    SseParser parser;
    bool done = false;
    bool stopped = false;
    std::optional<std::string> stream_error;

    HttpRequest request = json_post(url_, body, settings_.api_key);
    request.headers.push_back({"Accept", "text/event-stream"});
    request.connect_timeout_ms = settings_.connect_timeout_ms;
    request.total_timeout_ms = settings_.total_timeout_ms;
    request.stall_timeout_ms = settings_.stall_timeout_ms;
    const auto started = SteadyClock::now();
    const int first_token_ms = settings_.first_token_timeout_ms;
    bool first_token_expired = false;
    if (first_token_ms > 0 || first_token_deadline) {
      request.should_abort = [&] {
        if (result.delivered) return false;
        const auto now = SteadyClock::now();
        first_token_expired = (first_token_ms > 0 && now - started >= Millis(first_token_ms)) ||
                              (first_token_deadline && now >= *first_token_deadline);
        return first_token_expired;
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
          stream_error = "malformed event JSON in the chat stream: " + event.data.substr(0, 120);
          return false;
        }
        if (chunk.contains("error")) {
          const json& e = chunk["error"];
          std::string message = e.is_object() && e.contains("message") && e["message"].is_string()
                                    ? e["message"].get<std::string>()
                                    : e.dump();
          stream_error = "the server reported an error mid-stream: " + redact(message);
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
        result.delivered = true;
        reply.text += text;
        if (!sink(text)) {
          stopped = true;
          return false;
        }
      }
      if (parser.overflowed()) {
        stream_error = "chat stream line too long";
        return false;
      }
      return true;
    };

    const HttpResponse response = http_perform(request, on_bytes, cancel);
    if (done) return result;
    if (stopped || response.outcome == HttpOutcome::kCancelled) {
      reply.stopped = true;
      return result;
    }
    if (stream_error) {
      result.error = AttemptError{*stream_error, false, std::nullopt};
      return result;
    }
    if (response.status != 0 && (response.status < 200 || response.status >= 300)) {
      result.error = http_error(response);
      return result;
    }
    AttemptError error;
    switch (response.outcome) {
      case HttpOutcome::kAborted:
        error.message = "chat completion: no token within " +
                        std::to_string(std::chrono::duration_cast<Millis>(SteadyClock::now() -
                                                                          started).count()) +
                        " ms (first-token timeout " + std::to_string(first_token_ms) +
                        " ms, retry budget " + std::to_string(settings_.retry_budget_ms) + " ms)";
        error.retryable = first_token_expired;
        break;
      case HttpOutcome::kConnectFailed:
        error.message = "chat completion: cannot connect to " + url_ + ": " + response.error;
        error.retryable = true;
        break;
      case HttpOutcome::kTimedOut:
        error.message = "chat completion: " +
                        (response.error.starts_with("no data")
                             ? response.error + " (llm.stall_timeout_ms)"
                             : "total timeout of " + std::to_string(settings_.total_timeout_ms) +
                                   " ms reached");
        break;
      case HttpOutcome::kComplete:
        error.message = "chat stream closed without [DONE]";
        error.retryable = true;  // only used when no token was delivered
        break;
      default:
        error.message = "chat stream broke before [DONE]: " + response.error;
        error.retryable = true;  // a dropped connection before any token
        break;
    }
    result.error = std::move(error);
    return result;
  }

  const LlmSettings settings_;  // immutable after construction: stream() is thread-safe
  const std::string url_;
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
