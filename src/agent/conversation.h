#pragma once
// One conversation (a phone call, or a CLI session): the model sees the system prompt, the
// conversation's earlier turns from the store (trimmed to the memory budget) and the new question.
// Both turns are appended to the store, so a completed turn is on disk before the next begins.
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/caller_memory.h"
#include "core/cancel.h"
#include "core/result.h"
#include "core/settings.h"
#include "llm/chat_model.h"
#include "llm/prefetching_chat.h"
#include "llm/sentence_splitter.h"
#include "store/conversation_store.h"

namespace chalkbot {

struct AnswerCallbacks {
  // Each piece of the answer as it streams in (may be empty).
  std::function<void(std::string_view delta)> on_token;
  // Each speakable chunk as soon as the sentence splitter releases it; return false to stop.
  std::function<bool(const std::string& sentence)> on_sentence;
};

struct Answer {
  // What the caller heard: the answer; on a model failure the sentences already spoken (if any)
  // and then the apology.
  std::string text;
  bool model_failed = false;  // the apology was spoken instead of (the rest of) a model answer
  bool interrupted = false;   // stopped early by cancel or a callback
  Error error;                // why the model failed (its kind and message), for logs and metrics
  std::string store_error;    // a turn could not be stored (the answer was still given)
};

// An answer and its timeline (the caller's stamps it was asked with, the model's added).
struct AnswerEnd {
  Answer answer;
  StageTimes times;
};

// What an answer streaming in (Conversation::start_answer) reports. All run on the model's
// thread, under the stream's lock: they must not block, only hand the news on.
struct AnswerHandlers {
  std::function<void(std::string_view delta)> on_token;  // each piece as it streams in
  std::function<void(std::string sentence)> on_sentence;  // each speakable chunk, in order
  // The answer is complete, or the model failed (the apology was its last sentence): finish().
  std::function<void()> on_end;
  // The model asked for tools (what it said before them was handed on whole): run them, then
  // hand their results to AnswerStream::continue_with() (the model is asked again) or end the
  // answer with conclude(). Without it (or after max_tool_rounds rounds) tool calls are not run:
  // the answer ends with what was said, or with the apology when nothing was.
  std::function<void(std::vector<ToolCall> calls)> on_tool_calls;
  int max_tool_rounds = 0;
};

// An answer on its way. Dropping it stops the stream (nothing is stored then).
class AnswerStream {
 public:
  ~AnswerStream();
  AnswerStream(const AnswerStream&) = delete;
  AnswerStream& operator=(const AnswerStream&) = delete;

  // Any thread but the handlers'. Stops the stream if it still runs (the answer is then marked
  // interrupted) and returns the answer as far as it came; Conversation::store_answer keeps it.
  AnswerEnd finish();

  // After on_tool_calls, on the owner's thread (as finish()): the tool messages answering every
  // call go to the model with the conversation so far, and the answer streams on.
  void continue_with(std::vector<ChatMessage> tool_messages);
  // After on_tool_calls: the answer ends with what was said (a tool ended or handed over the
  // call). on_end runs.
  void conclude();
  // Says `sentence` as part of the answer, after what was handed on so far (a filler while a
  // tool runs, an apology for a tool that failed). Owner's thread.
  void interject(const std::string& sentence);
  // Whether the answer has said anything so far (any thread but the handlers').
  bool said_anything();

 private:
  friend class Conversation;
  AnswerStream(ChatModel& model, std::vector<ChatMessage> messages, AnswerHandlers handlers,
               const StageTimes& times, std::string store_error);
  void start_round();  // asks the model with messages_
  void on_delta(std::string_view delta);
  void on_done(Result<ChatReply> reply);
  void speak(const std::vector<std::string>& sentences);  // holds mutex_
  void end_here();  // holds mutex_: the answer is complete; on_end

  ChatModel& model_;
  AnswerHandlers handlers_;
  std::mutex mutex_;  // the model's thread writes, finish() reads
  std::vector<ChatMessage> messages_;  // the request so far (tool rounds append to it)
  SentenceSplitter splitter_;
  std::string received_;  // everything the model sent
  std::string spoken_;    // the sentences handed on so far
  std::string said_;      // the text of earlier rounds, interjections included
  int rounds_ = 0;        // tool rounds run
  bool awaiting_tools_ = false;
  AnswerEnd end_;
  bool ended_ = false;
  std::unique_ptr<ChatStream> chat_;  // last: stopped first
};

class Conversation {
 public:
  // Where the model's memory of earlier turns comes from: the store (a CLI session that may be
  // continued), or nothing for a call that begins now. Either way it is then kept in memory, so
  // the store is never read in the middle of a call (a locked or failing store cannot stall it).
  enum class History { kFromStore, kNewCall };

  Conversation(ChatModel& model, ConversationStore& store, const Settings& settings,
               std::string call_id, History history = History::kFromStore);

  // Stores the question, streams the answer through `callbacks` and stores it. `times` comes in
  // with the caller's speech stamps (speech start/end, endpoint, ASR done) and goes out with the
  // LLM stamps added; callbacks may add TTS/RTP stamps to it as they happen, and the stored answer
  // turn carries the whole timeline. A model failure is not an error: the apology is spoken and
  // stored instead; a store failure is not either (Answer::store_error). Errors: the earlier
  // turns could not be read.
  //
  // `continues`: the earlier question this one goes on from (the caller paused, the bot began to
  // answer, the caller went on). That exchange leaves the model's memory, so the model sees one
  // user message; the store keeps it as it happened (its answer marked interrupted).
  // Blocks until the answer has streamed and been stored: callbacks run on this thread.
  Result<Answer> answer(const std::string& question, StageTimes& times,
                        const AnswerCallbacks& callbacks, const CancelToken& cancel,
                        const std::string& continues = {});

  // The same without waiting (a call): stores the question, starts the model and returns; the
  // answer arrives through `handlers`. Once it ended (or must stop) its owner takes it with
  // AnswerStream::finish(), adds its own stamps (TTS, RTP) and stores it with store_answer().
  Result<std::unique_ptr<AnswerStream>> start_answer(const std::string& question,
                                                     const StageTimes& times,
                                                     AnswerHandlers handlers,
                                                     const std::string& continues = {});
  // Stores the answer turn and keeps it for the model's memory; a store failure is added to
  // end.answer.store_error.
  void store_answer(AnswerEnd& end);

  // The caller paused and may have finished asking `likely_question`: start asking the model now.
  // answer() with the same question (and the same memory) picks the request up; anything else
  // discards it. Thread-safe with answer().
  void prefetch(const std::string& likely_question);
  // The caller went on talking (or said nothing answerable): the prefetched request is cancelled.
  void discard_prefetch() { model_.discard(); }
  const PrefetchingChatModel& model() const { return model_; }

  const std::string& call_id() const { return call_id_; }

  // What the caller's earlier calls left (memory across calls): its system message, once filled
  // in, goes into every request after the system prompt. Call before the first answer.
  void set_caller_context(std::shared_ptr<const CallerContext> context) {
    caller_context_ = std::move(context);
  }
  // The call's turns so far (for its summary at the end). Thread-safe.
  std::vector<TurnRecord> turns_so_far();

 private:
  // The system prompt, the call's memory and the question.
  Result<std::vector<ChatMessage>> messages_for(const std::string& question);
  // Stores `turn` and keeps it for the model's memory; a store failure is added to `errors`.
  void remember(TurnRecord turn, std::string& errors);
  // Drops the latest exchange from the model's memory if it asked `question`.
  void forget_exchange(const std::string& question);

  PrefetchingChatModel model_;
  ConversationStore& store_;
  const Settings& settings_;
  std::string call_id_;
  std::mutex history_mutex_;  // a blocking answer() and prefetch() may run on two threads
  std::optional<std::vector<TurnRecord>> history_;  // loaded on the first answer
  std::shared_ptr<const CallerContext> caller_context_;  // null: no memory across calls
};

// Short: said when a provider (model, recognizer, synthesizer) fails, then the call goes on.
inline constexpr const char* kApology = "Sorry, something went wrong there. Please ask again.";

}  // namespace chalkbot
