#include "agent/caller_memory.h"

#include <pthread.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <future>
#include <utility>

#include "core/clock.h"
#include "core/log.h"

namespace chalkbot {
namespace {

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "+1 (555) 123-4567" -> "+15551234567"; anything that is not a phone number is kept as it is.
std::string without_visual_separators(std::string_view user) {
  std::string digits;
  for (std::size_t i = 0; i < user.size(); ++i) {
    const char c = user[i];
    if (std::isdigit(static_cast<unsigned char>(c)) != 0 || (c == '+' && digits.empty())) {
      digits += c;
    } else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')') {
      return std::string(user);
    }
  }
  return digits.size() > (digits.starts_with('+') ? 1U : 0U) ? digits : std::string(user);
}

std::string utc_date(std::int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[16] = {};
  std::strftime(text, sizeof text, "%Y-%m-%d", &tm);
  return text;
}

constexpr std::int64_t kDayMs = 24LL * 60 * 60 * 1000;

}  // namespace

std::string caller_identity(std::string_view from) {
  std::string_view uri = from;
  if (const auto open = uri.find('<'); open != std::string_view::npos) {
    const auto close = uri.find('>', open);
    uri = uri.substr(open + 1, close == std::string_view::npos ? std::string_view::npos
                                                               : close - open - 1);
  }
  while (!uri.empty() && uri.front() == ' ') uri.remove_prefix(1);
  while (!uri.empty() && uri.back() == ' ') uri.remove_suffix(1);
  // Socket transports name a peer address, CLI sessions a command: not a caller.
  for (std::string_view none : {"audiosocket:", "twilio:", "cli:"}) {
    if (starts_with_nocase(uri, none)) return "";
  }
  std::string_view user = uri;
  bool sip = false;
  for (std::string_view scheme : {"sips:", "sip:", "tel:"}) {
    if (starts_with_nocase(uri, scheme)) {
      sip = scheme != "tel:";
      user = uri.substr(scheme.size());
      break;
    }
  }
  if (const auto at = user.find('@'); at != std::string_view::npos) {
    user = user.substr(0, at);
  } else if (sip) {
    return "";  // sip:host: no user part
  }
  user = user.substr(0, user.find_first_of(";?"));
  const std::string name = lower(user);
  if (user.empty() || name == "anonymous" || name == "unknown" || name == "restricted" ||
      name == "unavailable") {
    return "";
  }
  return without_visual_separators(user);
}

std::string memory_system_message(const std::vector<CallerSummary>& summaries) {
  if (summaries.empty()) return "";
  std::string text =
      "Notes from your earlier calls with this caller (identified by caller ID), oldest first. "
      "Use them where they help; do not read them out.";
  for (const auto& summary : summaries) {
    text += "\n- " + utc_date(summary.created_ms) + ": " + summary.text;
  }
  return text;
}

std::optional<std::vector<ChatMessage>> summary_request(const std::string& prompt,
                                                        const std::vector<TurnRecord>& turns) {
  std::string transcript;
  bool caller_spoke = false;
  for (const auto& turn : turns) {
    if (turn.text.empty() || (turn.role != "user" && turn.role != "assistant")) continue;
    caller_spoke = caller_spoke || turn.role == "user";
    if (!transcript.empty()) transcript += "\n";
    transcript += (turn.role == "user" ? "Caller: " : "Assistant: ") + turn.text;
  }
  if (!caller_spoke) return std::nullopt;
  return std::vector<ChatMessage>{{"system", prompt}, {"user", transcript}};
}

void CallerContext::set(std::string system_message) {
  const std::lock_guard lock(mutex_);
  system_message_ = std::move(system_message);
}

std::string CallerContext::get() const {
  const std::lock_guard lock(mutex_);
  return system_message_;
}

CallerMemory::CallerMemory(ChatModel& model, ConversationStore& store,
                           const MemorySettings& settings)
    : model_(model), store_(store), settings_(settings) {}

CallerMemory::~CallerMemory() {
  {
    const std::lock_guard lock(retention_mutex_);
    stopping_ = true;
  }
  retention_wake_.notify_all();
  if (retention_.joinable()) retention_.join();
}

void CallerMemory::recall(const std::string& caller, std::shared_ptr<CallerContext> context) {
  if (caller.empty() || !context) return;
  quick_.post([this, caller, context = std::move(context)] {
    auto summaries = store_.summaries(caller, settings_.summaries_per_call);
    if (!summaries) {
      spdlog::warn("memory: the summaries of caller {} cannot be read: {}", caller,
                   summaries.error().message);
      return;
    }
    context->set(memory_system_message(*summaries));
  });
}

void CallerMemory::summarise(const std::string& caller, const std::string& call_id,
                             std::int64_t ended_ms, std::vector<TurnRecord> turns) {
  if (caller.empty()) return;
  auto request = summary_request(settings_.summary_prompt, turns);
  if (!request) return;  // the caller said nothing: nothing to remember
  summaries_.post([this, caller, call_id, ended_ms, request = std::move(*request)] {
    auto reply = model_.stream(request, [](std::string_view) { return true; }, CancelToken{});
    if (!reply) {
      spdlog::warn("memory: call {} not summarised: {}", call_id, reply.error().message);
      return;
    }
    const auto blank = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
    const auto first = std::find_if_not(reply->text.begin(), reply->text.end(), blank);
    const auto last = std::find_if_not(reply->text.rbegin(), reply->text.rend(), blank).base();
    if (first >= last) return;  // the model said nothing
    std::string text(first, last);
    store_summary({caller, call_id, wall_ms(), std::move(text)}, ended_ms);
  });
}

void CallerMemory::store_summary(const CallerSummary& summary, std::int64_t call_ended_ms) {
  const std::lock_guard lock(forget_mutex_);
  const auto forgotten = forgotten_ms_.find(summary.caller);
  if (forgotten != forgotten_ms_.end() && forgotten->second >= call_ended_ms) {
    spdlog::info("memory: call {} not remembered: its caller asked to be forgotten",
                 summary.call_id);
    return;
  }
  if (auto added = store_.add_summary(summary); !added) {
    spdlog::warn("memory: summary of call {} not stored: {}", summary.call_id,
                 added.error().message);
  }
}

Result<std::int64_t> CallerMemory::forget_now(const std::string& caller) {
  const std::lock_guard lock(forget_mutex_);
  auto erased = store_.forget_caller(caller);
  if (erased) forgotten_ms_[caller] = wall_ms();
  return erased;
}

void CallerMemory::forget(const std::string& caller, Done done) {
  if (caller.empty()) {
    if (done) done(make_error("memory: no caller to forget"));
    return;
  }
  quick_.post([this, caller, done = std::move(done)] {
    auto erased = forget_now(caller);
    if (erased) {
      spdlog::info("memory: forgot caller {} ({} summaries erased)", caller, *erased);
    } else {
      spdlog::error("memory: caller {} not forgotten: {}", caller, erased.error().message);
    }
    if (done) done(std::move(erased));
  });
}

Result<std::int64_t> CallerMemory::forget_and_wait(const std::string& caller) {
  std::promise<Result<std::int64_t>> erased;
  forget(caller, [&erased](Result<std::int64_t> result) { erased.set_value(std::move(result)); });
  return erased.get_future().get();
}

void CallerMemory::expire() {
  const std::int64_t cutoff = wall_ms() - settings_.retention_days * kDayMs;
  auto erased = store_.erase_summaries_before(cutoff);
  if (!erased) {
    spdlog::warn("memory: expired summaries not erased: {}", erased.error().message);
  } else if (*erased > 0) {
    spdlog::info("memory: erased {} summaries older than {} days", *erased,
                 settings_.retention_days);
  }
}

void CallerMemory::start_retention() {
  if (retention_.joinable()) return;
  quick_.post([this] { expire(); });
  retention_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "memory-expiry");
    std::unique_lock lock(retention_mutex_);
    while (!retention_wake_.wait_for(lock, std::chrono::hours(24), [this] { return stopping_; })) {
      quick_.post([this] { expire(); });
    }
  });
}

void CallerMemory::flush() {
  std::promise<void> summaries_done, quick_done;
  summaries_.post([&] { summaries_done.set_value(); });
  summaries_done.get_future().wait();
  quick_.post([&] { quick_done.set_value(); });
  quick_done.get_future().wait();
}

}  // namespace chalkbot
