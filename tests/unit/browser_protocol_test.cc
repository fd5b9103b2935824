// The browser phone's messages (transport/browser_protocol.h): what the Talk page may send, and
// what it is told.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "transport/browser_protocol.h"

namespace chalkbot {
namespace {

using json = nlohmann::json;
using browser::Control;

std::string protocol_error_of(std::string_view text) {
  auto parsed = browser::parse_control(text);
  return parsed ? std::string() : parsed.error().message;
}

TEST(BrowserProtocol, StartNamesTheRateOfTheAudioThatFollows) {
  const auto start = browser::parse_control(R"({"type":"start","rate":16000})");
  ASSERT_TRUE(start) << start.error().message;
  EXPECT_EQ(start->kind, Control::Kind::kStart);
  EXPECT_EQ(start->rate, 16000);
  EXPECT_TRUE(browser::parse_control(R"({"type":"start","rate":48000,"extra":1})"));
  for (const char* bad : {R"({"type":"start"})", R"({"type":"start","rate":"16000"})",
                          R"({"type":"start","rate":4000})", R"({"type":"start","rate":96000})",
                          R"({"type":"start","rate":16000.5})"}) {
    EXPECT_NE(protocol_error_of(bad).find("\"rate\" from 8000 to 48000"), std::string::npos) << bad;
  }
}

TEST(BrowserProtocol, DtmfAndHangUp) {
  const auto dtmf = browser::parse_control(R"({"type":"dtmf","digit":"#"})");
  ASSERT_TRUE(dtmf);
  EXPECT_EQ(dtmf->kind, Control::Kind::kDtmf);
  EXPECT_EQ(dtmf->digit, '#');
  for (const char* bad : {R"({"type":"dtmf"})", R"({"type":"dtmf","digit":"x"})",
                          R"({"type":"dtmf","digit":"12"})", R"({"type":"dtmf","digit":5})"}) {
    EXPECT_NE(protocol_error_of(bad).find("without a key"), std::string::npos) << bad;
  }
  const auto hang_up = browser::parse_control(R"({"type":"hangup"})");
  ASSERT_TRUE(hang_up);
  EXPECT_EQ(hang_up->kind, Control::Kind::kHangUp);
}

TEST(BrowserProtocol, MalformedControlSaysWhat) {
  EXPECT_EQ(protocol_error_of("not json"), "not a JSON object");
  EXPECT_EQ(protocol_error_of("[1,2]"), "not a JSON object");
  EXPECT_EQ(protocol_error_of(R"({"rate":16000})"), "no \"type\"");
  EXPECT_EQ(protocol_error_of(R"({"type":7})"), "no \"type\"");
  EXPECT_EQ(protocol_error_of(R"({"type":"dance"})"), "unknown type \"dance\"");
  // A long unknown type is not echoed whole into the log.
  EXPECT_LT(protocol_error_of(R"({"type":")" + std::string(1000, 'x') + "\"}").size(), 64u);
}

TEST(BrowserProtocol, AudioIsLittleEndianSigned16Bit) {
  const std::vector<Sample> pcm{0x1234, -2, 0, 32767, -32768};
  const std::string bytes = browser::encode_audio(pcm);
  ASSERT_EQ(bytes.size(), 10u);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0x34);
  EXPECT_EQ(static_cast<unsigned char>(bytes[1]), 0x12);
  EXPECT_EQ(static_cast<unsigned char>(bytes[2]), 0xfe);
  EXPECT_EQ(static_cast<unsigned char>(bytes[3]), 0xff);
  std::vector<Sample> decoded;
  ASSERT_TRUE(browser::decode_audio(bytes, decoded));
  EXPECT_EQ(decoded, pcm);
}

TEST(BrowserProtocol, AudioOfAnOddLengthOrTooLongIsRefused) {
  std::vector<Sample> out;
  auto odd = browser::decode_audio(std::string(641, '\0'), out);
  ASSERT_FALSE(odd);
  EXPECT_NE(odd.error().message.find("odd length"), std::string::npos);
  auto big = browser::decode_audio(std::string(browser::kMaxAudioBytes + 2, '\0'), out);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find("at most 8000"), std::string::npos) << big.error().message;
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(browser::decode_audio(std::string(browser::kMaxAudioBytes, '\0'), out));
  EXPECT_EQ(out.size(), browser::kMaxAudioBytes / 2);
}

TEST(BrowserProtocol, WhatThePageIsTold) {
  EXPECT_EQ(json::parse(browser::started_json("abc", 16000)),
            json::parse(R"({"type":"started","call_id":"abc","rate":16000})"));
  EXPECT_EQ(json::parse(browser::clear_json()), json::parse(R"({"type":"clear"})"));
  EXPECT_EQ(json::parse(browser::ended_json("caller_hangup", "")),
            json::parse(R"({"type":"ended","reason":"caller_hangup"})"));
  EXPECT_EQ(json::parse(browser::ended_json("protocol_error", "no \"type\"")),
            json::parse(R"({"type":"ended","reason":"protocol_error","error":"no \"type\""})"));
}

TEST(BrowserProtocol, NewsOfTheCall) {
  EXPECT_EQ(json::parse(browser::news_json({StreamNews::Kind::kCaller, "Hello?", false, -1, {}})),
            json::parse(R"({"type":"caller","text":"Hello?"})"));
  EXPECT_EQ(json::parse(browser::news_json({StreamNews::Kind::kBot, "Hi.", false, -1, {}})),
            json::parse(R"({"type":"bot","text":"Hi."})"));
  const StreamNews turn{StreamNews::Kind::kTurn, "Paris.", true, 820, {{"asr", 120}, {"llm_first_token", 300}}};
  EXPECT_EQ(json::parse(browser::news_json(turn)), json::parse(R"({"type":"turn","text":"Paris.",
      "interrupted":true,"latency_ms":820,"stages":[{"name":"asr","ms":120},
      {"name":"llm_first_token","ms":300}]})"));
  const StreamNews unknown{StreamNews::Kind::kTurn, "x", false, -1, {}};
  EXPECT_TRUE(json::parse(browser::news_json(unknown))["latency_ms"].is_null());
  // Broken UTF-8 from a model does not throw: it is replaced.
  const StreamNews broken{StreamNews::Kind::kBot, "caf\xc3", false, -1, {}};
  EXPECT_TRUE(json::accept(browser::news_json(broken)));
}

}  // namespace
}  // namespace chalkbot
