#pragma once
// A chat model that streams its answer token by token (OpenAI-compatible Chat Completions).
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/cancel.h"
#include "core/result.h"

namespace chalkbot {

struct LlmSettings;

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// Receives each piece of text as it arrives. Return false to stop the stream (not an error).
using TokenSink = std::function<bool(std::string_view delta)>;

struct ChatReply {
  std::string text;        // everything received (possibly partial when stopped or cancelled)
  bool stopped = false;    // the sink or the cancel token ended the stream early
  int attempts = 1;        // HTTP attempts made (retries + 1)
};

// Thread-safe: several calls may stream at once.
class ChatModel {
 public:
  virtual ~ChatModel() = default;
  virtual Result<ChatReply> stream(const std::vector<ChatMessage>& messages, const TokenSink& sink,
                                   const CancelToken& cancel) = 0;
};

Result<std::unique_ptr<ChatModel>> make_chat_model(const LlmSettings& settings);

}  // namespace chalkbot
