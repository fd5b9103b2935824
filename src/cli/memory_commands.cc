#include <iostream>

#include "agent/caller_memory.h"
#include "cli/cli.h"
#include "store/conversation_store.h"

namespace chalkbot::cli {

void add_memory_commands(CLI::App& app, Context& context) {
  auto* memory = app.add_subcommand(
      "memory", "memory across calls: show or forget what is kept of a caller's calls");
  memory->require_subcommand(1);
  static std::string caller;
  // The caller's identity and the configured store; fails when either cannot be had.
  struct Target {
    std::string who;
    std::unique_ptr<ConversationStore> store;
  };
  const auto open_for = [&context]() -> Result<Target> {
    std::string who = caller_identity(caller);
    if (who.empty()) return make_error("'" + caller + "' names no caller");
    auto settings = context.settings();
    if (!settings) return settings.error();
    auto store = make_store(settings->store);
    if (!store) return store.error();
    return Target{std::move(who), std::move(*store)};
  };

  auto* show = memory->add_subcommand("show", "print the call summaries kept of a caller");
  show->add_option("caller", caller, "the caller's number or SIP URI")->required();
  show->callback([&context, open_for] {
    auto target = open_for();
    if (!target) return context.fail(target.error().message);
    constexpr int kMostShown = 1000;
    auto summaries = target->store->summaries(target->who, kMostShown);
    if (!summaries) return context.fail(summaries.error().message);
    for (const auto& s : *summaries) std::cout << s.call_id << "\t" << s.text << "\n";
  });

  auto* forget = memory->add_subcommand(
      "forget", "erase every call summary kept of a caller (in the configured store)");
  forget->add_option("caller", caller, "the caller's number or SIP URI")->required();
  forget->callback([&context, open_for] {
    auto target = open_for();
    if (!target) return context.fail(target.error().message);
    auto erased = target->store->forget_caller(target->who);
    if (!erased) return context.fail(erased.error().message);
    std::cout << "forgot " << target->who << ": " << *erased << " call summaries erased\n";
  });
}

}  // namespace chalkbot::cli
