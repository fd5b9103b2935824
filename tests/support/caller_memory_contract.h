#pragma once
// The caller-summary part of the store contract (memory across calls), shared by the tests that
// run each backend: SQLite and PostgreSQL in store_contract_tests, DynamoDB beside dynalite.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "store/conversation_store.h"

namespace chalkbot::testing {

inline std::vector<std::string> summary_texts(ConversationStore& store, const std::string& caller,
                                              int limit) {
  auto got = store.summaries(caller, limit);
  EXPECT_TRUE(got.ok()) << (got.ok() ? "" : got.error().message);
  std::vector<std::string> texts;
  if (got.ok()) {
    for (const auto& s : *got) texts.push_back(s.text);
  }
  return texts;
}

// Adds, reads the newest N, forgets one caller and erases by age. Callers are named after
// `prefix`, so a store shared with other tests is not disturbed (except by the age cut-off, which
// uses times no other test writes).
inline void check_caller_summaries(ConversationStore& store, const std::string& prefix) {
  const std::string alice = prefix + "alice", bob = prefix + "+15551234";
  for (int i = 0; i < 4; ++i) {
    const CallerSummary s{alice, "a" + std::to_string(i), 1000 + i, "alice call " +
                                                                         std::to_string(i)};
    ASSERT_TRUE(store.add_summary(s).ok());
  }
  ASSERT_TRUE(store.add_summary({bob, "b0", 1500, "bob's only call"}).ok());

  // The newest N, oldest first, with every field back.
  auto two = store.summaries(alice, 2);
  ASSERT_TRUE(two.ok()) << two.error().message;
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[0].caller, alice);
  EXPECT_EQ((*two)[0].call_id, "a2");
  EXPECT_EQ((*two)[0].created_ms, 1002);
  EXPECT_EQ((*two)[0].text, "alice call 2");
  EXPECT_EQ((*two)[1].call_id, "a3");
  EXPECT_EQ(summary_texts(store, alice, 10),
            (std::vector<std::string>{"alice call 0", "alice call 1", "alice call 2",
                                      "alice call 3"}));
  EXPECT_TRUE(summary_texts(store, alice, 0).empty());
  EXPECT_TRUE(summary_texts(store, prefix + "nobody", 5).empty());

  // Forgetting one caller erases all of theirs and nobody else's.
  auto forgotten = store.forget_caller(alice);
  ASSERT_TRUE(forgotten.ok()) << forgotten.error().message;
  EXPECT_EQ(*forgotten, 4);
  EXPECT_TRUE(summary_texts(store, alice, 10).empty());
  EXPECT_EQ(summary_texts(store, bob, 10), std::vector<std::string>{"bob's only call"});
  auto again = store.forget_caller(alice);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);

  // Retention: what was created before the cut-off goes, what was created at or after it stays.
  ASSERT_TRUE(store.add_summary({bob, "b1", 2500, "bob's second call"}).ok());
  ASSERT_TRUE(store.add_summary({alice, "a9", 1200, "alice, old"}).ok());
  auto expired = store.erase_summaries_before(2500);
  ASSERT_TRUE(expired.ok()) << expired.error().message;
  EXPECT_EQ(*expired, 2);
  EXPECT_EQ(summary_texts(store, bob, 10), std::vector<std::string>{"bob's second call"});
  EXPECT_TRUE(summary_texts(store, alice, 10).empty());
  ASSERT_TRUE(store.forget_caller(bob).ok());
}

}  // namespace chalkbot::testing
