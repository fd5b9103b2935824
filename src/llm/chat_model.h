#pragma once
// A chat model that streams its answer token by token (OpenAI-compatible Chat Completions).
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/cancel.h"
#include "core/result.h"
#include "llm/tool_calls.h"

namespace chalkbot {

struct LlmSettings;

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" or "tool"
  std::string content;
  std::vector<ToolCall> tool_calls = {};  // an assistant message that asked for tools
  std::string tool_call_id = {};          // a "tool" message: the call it answers
};

// Receives each piece of text as it arrives. Return false to stop the stream (not an error).
using TokenSink = std::function<bool(std::string_view delta)>;

struct ChatReply {
  std::string text;        // everything received (possibly partial when stopped or cancelled)
  bool stopped = false;    // the sink or the cancel token ended the stream early
  int attempts = 1;        // HTTP attempts made (retries + 1)
  std::vector<ToolCall> tool_calls = {};  // the tools the model asked for, whole, in its order
};

// How a stream started with ChatModel::start_stream ended by itself: completed, stopped by its
// sink (ChatReply::stopped), or failed. Runs once, unless the stream was cancelled first.
using StreamDone = std::function<void(Result<ChatReply> reply)>;

// A stream in flight. Dropping the handle cancels it.
class ChatStream {
 public:
  virtual ~ChatStream() = default;
  // Any thread but the stream's own callbacks; idempotent. When it returns, neither the sink nor
  // on_done is running or will run again (a callback in progress is waited for: they are short).
  virtual void cancel() = 0;
};

// Thread-safe: several calls may stream at once.
class ChatModel {
 public:
  virtual ~ChatModel() = default;
  // Blocks the calling thread until the answer has streamed through `sink`.
  virtual Result<ChatReply> stream(const std::vector<ChatMessage>& messages, const TokenSink& sink,
                                   const CancelToken& cancel) = 0;
  // Starts streaming and returns at once. `sink` and `on_done` run on a thread of the model's (the
  // HTTP engine's): they must not block, only hand the work on. The model must outlive the
  // stream. The default runs stream() on a thread of its own per request.
  virtual std::unique_ptr<ChatStream> start_stream(std::vector<ChatMessage> messages,
                                                   TokenSink sink, StreamDone on_done);
};

// stream() for a model whose streams are asynchronous: starts one and waits for its end, looking
// at `cancel` every 20 ms. Never from the thread the stream's callbacks run on.
Result<ChatReply> stream_and_wait(ChatModel& model, const std::vector<ChatMessage>& messages,
                                  const TokenSink& sink, const CancelToken& cancel);

// `tools` are declared in every request; the model may then answer with tool_calls.
Result<std::unique_ptr<ChatModel>> make_chat_model(const LlmSettings& settings,
                                                   std::vector<ToolSpec> tools = {});

// The JSON body of one streaming request (exposed for tests).
Result<std::string> chat_request_body(const LlmSettings& settings,
                                      const std::vector<ChatMessage>& messages,
                                      const std::vector<ToolSpec>& tools);

}  // namespace chalkbot
