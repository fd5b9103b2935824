#include "agent/conversation.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <utility>

#include "core/clock.h"
#include "core/log.h"
#include "llm/sentence_splitter.h"

namespace chalkbot {

Conversation::Conversation(ChatModel& model, ConversationStore& store, const Settings& settings,
                           std::string call_id, History history)
    : model_(model), store_(store), settings_(settings), call_id_(std::move(call_id)) {
  if (history == History::kNewCall) history_.emplace();
}

Result<std::vector<ChatMessage>> Conversation::messages_for(const std::string& question) {
  const std::lock_guard lock(history_mutex_);
  if (!history_) {
    auto earlier = store_.turns(call_id_);
    if (!earlier) return earlier.error();
    history_ = std::move(*earlier);
  }
  std::vector<ChatMessage> messages{{"system", settings_.llm.system_prompt}};
  if (caller_context_) {
    if (std::string earlier = caller_context_->get(); !earlier.empty()) {
      messages.push_back({"system", std::move(earlier)});
    }
  }
  for (auto& message :
       memory_from_turns(*history_, static_cast<std::size_t>(settings_.store.memory_budget_chars))) {
    messages.push_back(std::move(message));
  }
  messages.push_back({"user", question});
  return messages;
}

std::vector<TurnRecord> Conversation::turns_so_far() {
  const std::lock_guard lock(history_mutex_);
  return history_ ? *history_ : std::vector<TurnRecord>{};
}

void Conversation::remember(TurnRecord turn, std::string& errors) {
  if (auto stored = store_.append_turn(turn); !stored) {
    if (!errors.empty()) errors += "; ";
    errors += stored.error().message;
  }
  const std::lock_guard lock(history_mutex_);
  history_->push_back(std::move(turn));
}

void Conversation::prefetch(const std::string& likely_question) {
  auto messages = messages_for(likely_question);
  if (messages) model_.prefetch(std::move(*messages));
}

void Conversation::forget_exchange(const std::string& question) {
  const std::lock_guard lock(history_mutex_);
  if (!history_) return;
  auto& turns = *history_;
  const bool answered = !turns.empty() && turns.back().role == "assistant";
  const std::size_t kept = answered ? 2 : 1;  // the question, and its answer if one began
  if (turns.size() < kept) return;
  const TurnRecord& asked = turns[turns.size() - kept];
  if (asked.role != "user" || asked.text != question) return;  // its answer never began
  turns.erase(turns.end() - static_cast<std::ptrdiff_t>(kept), turns.end());
}

AnswerStream::AnswerStream(ChatModel& model, std::vector<ChatMessage> messages,
                           AnswerHandlers handlers, const StageTimes& times,
                           std::string store_error)
    : model_(model), handlers_(std::move(handlers)), messages_(std::move(messages)) {
  end_.times = times;
  end_.answer.store_error = std::move(store_error);
}

void AnswerStream::start_round() {
  std::vector<ChatMessage> messages;
  {
    const std::lock_guard lock(mutex_);
    messages = messages_;
  }
  chat_ = model_.start_stream(
      std::move(messages),
      [this](std::string_view delta) {
        on_delta(delta);
        return true;
      },
      [this](Result<ChatReply> reply) { on_done(std::move(reply)); });
}

void AnswerStream::continue_with(std::vector<ChatMessage> tool_messages) {
  {
    const std::lock_guard lock(mutex_);
    if (ended_ || !awaiting_tools_) return;
    awaiting_tools_ = false;
    ++rounds_;
    for (auto& message : tool_messages) messages_.push_back(std::move(message));
  }
  // The last round's stream has ended: its handle goes (outside the lock its callbacks take).
  chat_.reset();
  start_round();
}

void AnswerStream::conclude() {
  const std::lock_guard lock(mutex_);
  if (ended_ || !awaiting_tools_) return;
  awaiting_tools_ = false;
  end_.answer.text = said_;
  end_here();
}

void AnswerStream::interject(const std::string& sentence) {
  const std::lock_guard lock(mutex_);
  if (ended_ || sentence.empty()) return;
  said_ += (said_.empty() ? "" : " ") + sentence;
  speak({sentence});
}

bool AnswerStream::said_anything() {
  const std::lock_guard lock(mutex_);
  return !spoken_.empty();
}

void AnswerStream::end_here() {
  end_.times.done = wall_ms();
  ended_ = true;
  if (handlers_.on_end) handlers_.on_end();
}

AnswerStream::~AnswerStream() { chat_.reset(); }

void AnswerStream::speak(const std::vector<std::string>& sentences) {
  for (const auto& sentence : sentences) {
    if (!end_.times.first_sentence) end_.times.first_sentence = wall_ms();
    spoken_ += (spoken_.empty() ? "" : " ") + sentence;
    if (handlers_.on_sentence) handlers_.on_sentence(sentence);
  }
}

void AnswerStream::on_delta(std::string_view delta) {
  const std::lock_guard lock(mutex_);
  if (!end_.times.llm_first_token) end_.times.llm_first_token = wall_ms();
  received_.append(delta);
  if (handlers_.on_token) handlers_.on_token(delta);
  speak(splitter_.push(delta));
}

void AnswerStream::on_done(Result<ChatReply> reply) {
  const std::lock_guard lock(mutex_);
  Answer& answer = end_.answer;
  if (reply.ok()) {
    if (!reply->text.empty()) said_ += (said_.empty() ? "" : " ") + reply->text;
    answer.text = said_;
    answer.interrupted = reply->stopped;
    if (!answer.interrupted) speak(splitter_.finish());
    if (!answer.interrupted && !reply->tool_calls.empty()) {
      if (handlers_.on_tool_calls && rounds_ < handlers_.max_tool_rounds) {
        // What the model said before its tools is out; the tools run and it is asked again.
        messages_.push_back({"assistant", reply->text, reply->tool_calls});
        awaiting_tools_ = true;
        handlers_.on_tool_calls(std::move(reply->tool_calls));
        return;
      }
      // Tools it may not have (any more): an answer with nothing said gets the apology.
      if (said_.empty()) {
        answer.text = said_ = kApology;
        speak({kApology});
      }
    }
  } else {
    // The caller hears a short apology (after whatever was already said) and the call goes on.
    // The owner reports the failure: it is logged (and counted) there, once.
    answer.model_failed = true;
    answer.error = reply.error();
    answer.text = spoken_.empty() ? std::string(kApology) : spoken_ + " " + kApology;
    if (handlers_.on_token) handlers_.on_token(kApology);
    speak({kApology});
  }
  end_here();
}

AnswerEnd AnswerStream::finish() {
  if (chat_) chat_->cancel();  // no handler runs after this
  const std::lock_guard lock(mutex_);
  if (!ended_) {
    // (A tool round cut short: what was said before it, and what came since.)
    end_.answer.text = awaiting_tools_ ? said_ : received_;
    end_.answer.interrupted = true;
    end_.times.done = wall_ms();
    ended_ = true;
  }
  return end_;
}

Result<std::unique_ptr<AnswerStream>> Conversation::start_answer(const std::string& question,
                                                                 const StageTimes& times,
                                                                 AnswerHandlers handlers,
                                                                 const std::string& continues) {
  if (!continues.empty()) forget_exchange(continues);
  auto messages = messages_for(question);
  if (!messages) return messages.error();
  std::string store_error;
  remember(TurnRecord{call_id_, 0, "user", question, false, times}, store_error);
  std::unique_ptr<AnswerStream> stream(new AnswerStream(
      model_, std::move(*messages), std::move(handlers), times, std::move(store_error)));
  stream->start_round();
  return stream;
}

void Conversation::store_answer(AnswerEnd& end) {
  const Answer& answer = end.answer;
  remember(TurnRecord{call_id_, 0, "assistant", answer.text, answer.interrupted, end.times},
           end.answer.store_error);
}

Result<Answer> Conversation::answer(const std::string& question, StageTimes& times,
                                    const AnswerCallbacks& callbacks, const CancelToken& cancel,
                                    const std::string& continues) {
  // The stream's handlers hand tokens and sentences over; this thread runs the callbacks.
  struct Relay {
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<std::pair<bool, std::string>> items;  // (is a sentence, text)
    bool ended = false;
  } relay;
  const auto hand_over = [&relay](bool sentence, std::string_view text) {
    {
      const std::lock_guard lock(relay.mutex);
      relay.items.emplace_back(sentence, std::string(text));
    }
    relay.changed.notify_one();
  };
  AnswerHandlers handlers;
  handlers.on_token = [&](std::string_view delta) { hand_over(false, delta); };
  handlers.on_sentence = [&](std::string sentence) { hand_over(true, sentence); };
  handlers.on_end = [&relay] {
    {
      const std::lock_guard lock(relay.mutex);
      relay.ended = true;
    }
    relay.changed.notify_one();
  };
  auto stream = start_answer(question, times, std::move(handlers), continues);
  if (!stream) return stream.error();

  bool stopped = false;  // a callback asked to stop, or the cancel token did
  while (!stopped) {
    std::deque<std::pair<bool, std::string>> items;
    bool ended = false;
    {
      std::unique_lock lock(relay.mutex);
      // The cancel token has no way to wake this wait: look at it every 20 ms.
      relay.changed.wait_for(lock, std::chrono::milliseconds(20),
                             [&] { return !relay.items.empty() || relay.ended; });
      items = std::exchange(relay.items, {});
      ended = relay.ended;
    }
    for (const auto& [is_sentence, text] : items) {
      if (stopped) break;
      if (!is_sentence) {
        if (callbacks.on_token) callbacks.on_token(text);
      } else if (callbacks.on_sentence && !callbacks.on_sentence(text)) {
        stopped = true;
      }
    }
    stopped = stopped || cancel.cancelled();
    if (ended) break;
  }
  AnswerEnd end = (*stream)->finish();
  (*stream).reset();  // before the relay it reports to goes
  end.answer.interrupted = end.answer.interrupted || stopped;
  // The callbacks may have stamped the sound's way out (TTS, RTP) on the caller's timeline.
  end.times.tts_first_audio = times.tts_first_audio;
  end.times.first_rtp_out = times.first_rtp_out;
  store_answer(end);
  times = end.times;
  return std::move(end.answer);
}

}  // namespace chalkbot
