#include "agent/conversation.h"

#include "core/clock.h"
#include "core/log.h"
#include "llm/sentence_splitter.h"
#include "server/metrics.h"

namespace chalkbot {

Conversation::Conversation(ChatModel& model, ConversationStore& store, const Settings& settings,
                           std::string call_id)
    : model_(model), store_(store), settings_(settings), call_id_(std::move(call_id)) {}

Result<std::vector<ChatMessage>> Conversation::messages_for(const std::string& question) {
  auto earlier = store_.turns(call_id_);
  if (!earlier) return earlier.error();
  std::vector<ChatMessage> messages{{"system", settings_.llm.system_prompt}};
  for (auto& message :
       memory_from_turns(*earlier, static_cast<std::size_t>(settings_.store.memory_budget_chars))) {
    messages.push_back(std::move(message));
  }
  messages.push_back({"user", question});
  return messages;
}

void Conversation::prefetch(const std::string& likely_question) {
  auto messages = messages_for(likely_question);
  if (messages) model_.prefetch(std::move(*messages));
}

Result<Answer> Conversation::answer(const std::string& question, StageTimes& times,
                                    const AnswerCallbacks& callbacks, const CancelToken& cancel) {
  auto built = messages_for(question);
  if (!built) return built.error();
  const std::vector<ChatMessage>& messages = *built;

  TurnRecord user_turn{call_id_, 0, "user", question, false, times};
  if (auto stored = store_.append_turn(user_turn); !stored) return stored.error();

  Answer answer;
  SentenceSplitter splitter;
  bool keep_going = true;
  const auto speak = [&](const std::vector<std::string>& sentences) {
    for (const auto& sentence : sentences) {
      if (!keep_going) return;
      if (!times.first_sentence) times.first_sentence = wall_ms();
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
    // The caller hears a short apology and the call goes on.
    spdlog::warn("call {}: model failed: {}", call_id_, reply.error().message);
    if (!cancel.cancelled()) count_provider_error(Provider::kLlm, reply.error().message);
    answer.model_failed = true;
    answer.error = reply.error().message;
    answer.text = kApology;
    if (callbacks.on_token) callbacks.on_token(kApology);
    if (!cancel.cancelled()) speak({kApology});
  }
  answer.interrupted = answer.interrupted || cancel.cancelled();
  times.done = wall_ms();

  TurnRecord bot_turn{call_id_, 0, "assistant", answer.text, answer.interrupted, times};
  if (auto stored = store_.append_turn(bot_turn); !stored) return stored.error();
  return answer;
}

}  // namespace chalkbot
