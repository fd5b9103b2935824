#include <gtest/gtest.h>

#include "llm/sse_parser.h"

namespace chalkbot {
namespace {

std::vector<SseEvent> feed_split(std::string_view stream, std::size_t every) {
  SseParser parser;
  std::vector<SseEvent> events;
  for (std::size_t i = 0; i < stream.size(); i += every) {
    for (auto& e : parser.feed(stream.substr(i, every))) events.push_back(std::move(e));
  }
  return events;
}

std::vector<std::string> datas(const std::vector<SseEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.data);
  return out;
}

TEST(SseParser, EveryByteSplitGivesTheSameEvents) {
  const std::string stream =
      ": comment\r\n\r\n"
      "data: {\"a\":1}\r\n\r\n"
      "event: update\ndata: line one\ndata: line two\nid: 7\n\n"
      "data:no-space\rdata:  two spaces\r\r"
      "retry: 100\nunknown: x\ndata\n\n"
      "data: [DONE]\n\n";
  const std::vector<std::string> want = {"{\"a\":1}", "line one\nline two",
                                         "no-space\n two spaces", "", "[DONE]"};
  for (std::size_t every = 1; every <= stream.size(); ++every) {
    const auto events = feed_split(stream, every);
    ASSERT_EQ(datas(events), want) << "split every " << every;
    EXPECT_EQ(events[1].event, "update");
    EXPECT_EQ(events[1].id, "7");
  }
}

TEST(SseParser, CrLfSplitAcrossFeedsIsOneLineEnd) {
  SseParser parser;
  EXPECT_TRUE(parser.feed("data: x\r").empty());
  // The LF completing "\r\n" must not count as the blank line that ends the event.
  EXPECT_TRUE(parser.feed("\n").empty());
  const auto events = parser.feed("\r\n");
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].data, "x");
}

TEST(SseParser, IncompleteEventIsHeldBack) {
  SseParser parser;
  EXPECT_TRUE(parser.feed("data: partial").empty());
  EXPECT_TRUE(parser.has_partial());
  EXPECT_TRUE(parser.feed("\n").empty());
  EXPECT_TRUE(parser.has_partial());
  EXPECT_EQ(parser.feed("\n").size(), 1U);
  EXPECT_FALSE(parser.has_partial());
}

TEST(SseParser, CommentsAndDataLessEventsAreNotDispatched) {
  SseParser parser;
  EXPECT_TRUE(parser.feed(": keep-alive\n\nevent: ping\n\n").empty());
}

TEST(SseParser, OverlongLineIsFlagged) {
  SseParser parser(16);
  EXPECT_TRUE(parser.feed("data: " + std::string(32, 'x')).empty());
  EXPECT_TRUE(parser.overflowed());
}

}  // namespace
}  // namespace chalkbot
