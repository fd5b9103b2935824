#include "agent/conversation.h"

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
  for (auto& message :
       memory_from_turns(*history_, static_cast<std::size_t>(settings_.store.memory_budget_chars))) {
    messages.push_back(std::move(message));
  }
  messages.push_back({"user", question});
  return messages;
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

Result<Answer> Conversation::answer(const std::string& question, StageTimes& times,
                                    const AnswerCallbacks& callbacks, const CancelToken& cancel,
                                    const std::string& continues) {
  if (!continues.empty()) forget_exchange(continues);
  auto built = messages_for(question);
  if (!built) return built.error();
  const std::vector<ChatMessage>& messages = *built;

  Answer answer;
  remember(TurnRecord{call_id_, 0, "user", question, false, times}, answer.store_error);

  SentenceSplitter splitter;
  std::string spoken;  // the sentences handed to the caller so far
  bool keep_going = true;
  const auto speak = [&](const std::vector<std::string>& sentences) {
    for (const auto& sentence : sentences) {
      if (!keep_going) return;
      if (!times.first_sentence) times.first_sentence = wall_ms();
      spoken += (spoken.empty() ? "" : " ") + sentence;
      if (callbacks.on_sentence && !callbacks.on_sentence(sentence)) keep_going = false;
    }
  };
  const auto on_delta = [&](std::string_view delta) {
    if (!times.llm_first_token) times.llm_first_token = wall_ms();
    if (callbacks.on_token) callbacks.on_token(delta);
    speak(splitter.push(delta));
    return keep_going && !cancel.cancelled();
  };

  auto reply = model_.stream(messages, on_delta, cancel);
  if (reply.ok()) {
    answer.text = reply->text;
    answer.interrupted = reply->stopped || !keep_going;
    if (!answer.interrupted) speak(splitter.finish());
  } else {
    // The caller hears a short apology (after whatever was already said) and the call goes on.
    // The caller of answer() reports the failure: it is logged (and counted) there, once.
    answer.model_failed = true;
    answer.error = reply.error();
    answer.text = spoken.empty() ? std::string(kApology) : spoken + " " + kApology;
    if (callbacks.on_token) callbacks.on_token(kApology);
    if (!cancel.cancelled()) speak({kApology});
  }
  answer.interrupted = answer.interrupted || cancel.cancelled();
  times.done = wall_ms();

  remember(TurnRecord{call_id_, 0, "assistant", answer.text, answer.interrupted, times},
           answer.store_error);
  return answer;
}

}  // namespace chalkbot
