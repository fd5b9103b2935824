#pragma once
// One conversation (a phone call, or a CLI session): the model sees the system prompt, the
// conversation's earlier turns from the store (trimmed to the memory budget) and the new question.
// Both turns are appended to the store, so a completed turn is on disk before the next begins.
#include <functional>
#include <string>

#include "core/cancel.h"
#include "core/result.h"
#include "core/settings.h"
#include "llm/chat_model.h"
#include "llm/prefetching_chat.h"
#include "store/conversation_store.h"

namespace chalkbot {

struct AnswerCallbacks {
  // Each piece of the answer as it streams in (may be empty).
  std::function<void(std::string_view delta)> on_token;
  // Each speakable chunk as soon as the sentence splitter releases it; return false to stop.
  std::function<bool(const std::string& sentence)> on_sentence;
};

struct Answer {
  std::string text;           // what the caller heard (the apology when the model failed)
  bool model_failed = false;  // the apology was spoken instead of a model answer
  bool interrupted = false;   // stopped early by cancel or a callback
  std::string error;          // why the model failed, for logs
};

class Conversation {
 public:
  Conversation(ChatModel& model, ConversationStore& store, const Settings& settings,
               std::string call_id);

  // Stores the question, streams the answer through `callbacks` and stores it. `times` comes in
  // with the caller's speech stamps (speech start/end, endpoint, ASR done) and goes out with the
  // LLM stamps added; callbacks may add TTS/RTP stamps to it as they happen, and the stored answer
  // turn carries the whole timeline. A model failure is not an error: the apology is spoken and
  // stored instead. Errors are store failures only.
  Result<Answer> answer(const std::string& question, StageTimes& times,
                        const AnswerCallbacks& callbacks, const CancelToken& cancel);

  // The caller paused and may have finished asking `likely_question`: start asking the model now.
  // answer() with the same question (and the same memory) picks the request up; anything else
  // discards it. Thread-safe with answer().
  void prefetch(const std::string& likely_question);
  // The caller went on talking (or said nothing answerable): the prefetched request is cancelled.
  void discard_prefetch() { model_.discard(); }
  const PrefetchingChatModel& model() const { return model_; }

  const std::string& call_id() const { return call_id_; }

 private:
  // The system prompt, the call's memory and the question.
  Result<std::vector<ChatMessage>> messages_for(const std::string& question);

  PrefetchingChatModel model_;
  ConversationStore& store_;
  const Settings& settings_;
  std::string call_id_;
};

inline constexpr const char* kApology =
    "Sorry, I could not get an answer just now. Please try again in a moment.";

}  // namespace chalkbot
