#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/build_config.h"
#include "core/settings.h"
#include "server/admin_api.h"
#include "server/admin_server.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

using nlohmann::json;

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::make_temp_dir();
    StoreSettings settings;
    settings.backend = "sqlite";
    settings.path = dir_ + "/calls.db";
    auto store = make_store(settings);
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    for (int i = 0; i < 3; ++i) {
      const std::string id = "c" + std::to_string(i);
      ASSERT_TRUE(store_->begin_call({id, "sip:alice@x", "sip:bot@y", 1000 + i, {}, "", ""}).ok());
    }
    TurnRecord question{"c1", 0, "user", "What is the capital of France?", false, {}};
    TurnRecord answer{"c1", 0, "assistant", "Paris.", false, {}};
    answer.times.speech_start = 100;
    answer.times.speech_end = 900;
    answer.times.endpoint = 1400;
    answer.times.asr_done = 1600;
    answer.times.llm_first_token = 1650;
    answer.times.first_sentence = 1700;
    answer.times.tts_first_audio = 1710;
    answer.times.first_rtp_out = 1730;
    ASSERT_TRUE(store_->append_turn(question).ok());
    ASSERT_TRUE(store_->append_turn(answer).ok());
    ASSERT_TRUE(store_->append_tool_call({"c1", 0, "order_status", R"({"order_id":42})",
                                          R"({"error":"HTTP 500"})", false, 1200, 35})
                    .ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  AdminApi make_api(AdminOptions options = {}) {
    if (options.web_dir.empty()) options.web_dir = CHALKBOT_WEB_DIR;
    AdminHooks hooks{
        [] { return std::vector<LiveCall>{{"live1", "sip:a@b", "sip:bot@c", 5, "talking"}}; },
        [this](const std::string& id) {
          hung_up_ = id;
          return id == "live1";
        },
        [this] { return ready_ ? Status{} : Status(make_error("SIP is not listening")); }};
    return AdminApi(hooks, *store_, registry_, options);
  }

  static AdminReply get(const AdminApi& api, const std::string& target,
                        const std::string& authorization = "") {
    return api.handle({"GET", target, authorization});
  }
  // A 4xx/5xx reply must carry {"error": "..."}.
  static void expect_json_error(const AdminReply& reply, int status) {
    EXPECT_EQ(reply.status, status);
    EXPECT_EQ(reply.content_type, "application/json");
    const json body = json::parse(reply.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << reply.body;
    EXPECT_TRUE(body.contains("error") && body["error"].is_string() &&
                !body["error"].get<std::string>().empty())
        << reply.body;
  }

  std::string dir_;
  std::unique_ptr<ConversationStore> store_;
  MetricRegistry registry_;
  std::string hung_up_;
  bool ready_ = true;
};

TEST_F(AdminApiTest, HealthAndReadiness) {
  const AdminApi api = make_api();
  EXPECT_EQ(get(api, "/healthz").status, 200);
  EXPECT_EQ(get(api, "/readyz").status, 200);
  ready_ = false;
  const AdminReply not_ready = get(api, "/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_NE(not_ready.body.find("SIP is not listening"), std::string::npos);
}

TEST_F(AdminApiTest, CallsArePaginated) {
  const AdminApi api = make_api();
  const AdminReply reply = get(api, "/api/calls?offset=1&limit=1");
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json body = json::parse(reply.body);
  EXPECT_EQ(body["total"], 3);
  EXPECT_EQ(body["offset"], 1);
  ASSERT_EQ(body["calls"].size(), 1U);
  EXPECT_EQ(body["calls"][0]["id"], "c1");
  EXPECT_EQ(json::parse(get(api, "/api/calls").body)["calls"].size(), 3U);
}

TEST_F(AdminApiTest, BadPaginationIs400WithAJsonError) {
  const AdminApi api = make_api();
  for (const char* target :
       {"/api/calls?limit=0", "/api/calls?limit=abc", "/api/calls?limit=1000",
        "/api/calls?offset=-1", "/api/calls?offset=", "/api/calls?limit=5x",
        "/api/latency?calls=0"}) {
    SCOPED_TRACE(target);
    expect_json_error(get(api, target), 400);
  }
}

TEST_F(AdminApiTest, CallDetailHasTurnsWithStageBars) {
  const AdminApi api = make_api();
  const AdminReply reply = get(api, "/api/calls/c1");
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json body = json::parse(reply.body);
  ASSERT_EQ(body["turns"].size(), 2U);
  EXPECT_EQ(body["turns"][0]["text"], "What is the capital of France?");
  ASSERT_EQ(body["tool_calls"].size(), 1U);  // every tool the model called, as JSON
  EXPECT_EQ(body["tool_calls"][0]["name"], "order_status");
  EXPECT_EQ(body["tool_calls"][0]["arguments"]["order_id"], 42);
  EXPECT_EQ(body["tool_calls"][0]["result"]["error"], "HTTP 500");
  EXPECT_EQ(body["tool_calls"][0]["ok"], false);
  EXPECT_EQ(body["tool_calls"][0]["duration_ms"], 35);
  const json& answer = body["turns"][1];
  EXPECT_EQ(answer["response_latency_ms"], 830);
  std::vector<std::string> stages;
  for (const auto& bar : answer["stages"]) stages.push_back(bar["stage"]);
  EXPECT_EQ(stages, (std::vector<std::string>{"speech", "endpoint", "asr", "llm_first_token",
                                              "first_sentence", "tts_first_audio",
                                              "first_rtp_out"}));
  EXPECT_EQ(body["recording"], false);
}

TEST_F(AdminApiTest, UnknownCallsAndEndpointsAre404WithAJsonError) {
  const AdminApi api = make_api();
  expect_json_error(get(api, "/api/calls/nope"), 404);
  expect_json_error(get(api, "/api/calls/..%2F..%2Fetc"), 404);
  expect_json_error(get(api, "/api/calls/nope/audio"), 404);
  expect_json_error(get(api, "/api/nothing"), 404);
  expect_json_error(api.handle({"POST", "/api/calls/nope/hangup", ""}), 404);
  expect_json_error(get(api, "/api/calls/live1/hangup"), 405);
  expect_json_error(api.handle({"DELETE", "/api/calls", ""}), 405);
}

TEST_F(AdminApiTest, HangupReachesTheGateway) {
  const AdminApi api = make_api();
  const AdminReply reply = api.handle({"POST", "/api/calls/live1/hangup", ""});
  EXPECT_EQ(reply.status, 202);
  EXPECT_EQ(hung_up_, "live1");
  const json live = json::parse(get(api, "/api/live").body);
  ASSERT_EQ(live["calls"].size(), 1U);
  EXPECT_EQ(live["calls"][0]["state"], "talking");
}

TEST_F(AdminApiTest, ACallersMemoryIsListedAndForgotten) {
  ASSERT_TRUE(store_->add_summary({"+15551234", "c1", 1000, "Asked about opening hours."}).ok());
  ASSERT_TRUE(store_->add_summary({"+15551234", "c2", 2000, "Booked a table."}).ok());
  ASSERT_TRUE(store_->add_summary({"bob", "c3", 3000, "Bob's call."}).ok());
  const AdminApi api = make_api({"t0ken", "", ""});
  expect_json_error(api.handle({"DELETE", "/api/memory/bob", ""}), 401);  // the token rules apply
  const std::string auth = "Bearer t0ken";
  // The caller by identity or by From URI.
  const json listed = json::parse(get(api, "/api/memory/%2B15551234", auth).body);
  ASSERT_EQ(listed["summaries"].size(), 2U);
  EXPECT_EQ(listed["summaries"][1]["text"], "Booked a table.");
  const AdminReply forgot =
      api.handle({"DELETE", "/api/memory/sip:+15551234@pbx.example.com;user=phone", auth});
  EXPECT_EQ(forgot.status, 200) << forgot.body;
  EXPECT_EQ(json::parse(forgot.body)["erased"], 2);
  EXPECT_EQ(json::parse(get(api, "/api/memory/+15551234", auth).body)["summaries"].size(), 0U);
  EXPECT_EQ(json::parse(get(api, "/api/memory/bob", auth).body)["summaries"].size(), 1U);
  expect_json_error(api.handle({"DELETE", "/api/memory/sip:anonymous@x", auth}), 400);
  expect_json_error(api.handle({"POST", "/api/memory/bob", auth}), 405);
}

TEST_F(AdminApiTest, TokenIsRequiredWhenSet) {
  const AdminApi api = make_api({"s3cret", "", ""});
  const AdminReply missing = get(api, "/api/calls");
  expect_json_error(missing, 401);
  EXPECT_EQ(missing.headers.at("WWW-Authenticate"), "Bearer");
  expect_json_error(get(api, "/metrics"), 401);
  expect_json_error(get(api, "/api/calls", "Bearer wrong!"), 403);
  expect_json_error(get(api, "/api/calls", "Bearer s3cre"), 403);
  EXPECT_EQ(get(api, "/api/calls", "Bearer s3cret").status, 200);
  EXPECT_EQ(get(api, "/api/live/stream?token=s3cret").status, 200);  // EventSource
  EXPECT_EQ(get(api, "/healthz").status, 200);                        // probes need none
  EXPECT_EQ(get(api, "/").status, 200);                               // nor the page itself
}

// The Talk page's WebSocket: the admin API's own token rules, a WebSocket only, and only from a
// page this server served (WebSockets are not bound by the same-origin policy).
TEST_F(AdminApiTest, TalkIsAWebSocketFromThisServersPage) {
  const auto talk = [](const AdminApi& api, const std::string& target, bool websocket,
                       const std::string& origin = "") {
    return api.handle({"GET", target, "", websocket, origin, "127.0.0.1:8089"});
  };
  const AdminApi open = make_api();
  EXPECT_TRUE(talk(open, "/api/talk", true).talk);  // no Origin: not a browser page
  EXPECT_TRUE(talk(open, "/api/talk", true, "http://127.0.0.1:8089").talk);
  const AdminReply plain = talk(open, "/api/talk", false);
  EXPECT_FALSE(plain.talk);
  expect_json_error(plain, 426);
  const AdminReply elsewhere = talk(open, "/api/talk", true, "https://evil.example");
  EXPECT_FALSE(elsewhere.talk);
  expect_json_error(elsewhere, 403);
  expect_json_error(talk(open, "/api/talk", true, "http://127.0.0.1:8089.evil.example"), 403);

  AdminOptions options;
  options.token = "s3cret";
  const AdminApi locked = make_api(options);
  const AdminReply without = talk(locked, "/api/talk", true, "http://127.0.0.1:8089");
  EXPECT_FALSE(without.talk);
  expect_json_error(without, 401);
  expect_json_error(talk(locked, "/api/talk?token=nope", true), 403);
  EXPECT_TRUE(talk(locked, "/api/talk?token=s3cret", true, "http://127.0.0.1:8089").talk);
}

TEST_F(AdminApiTest, MetricsAreServedAsPrometheusText) {
  registry_.counter("demo_total", "x").inc(7);
  const AdminReply reply = get(make_api(), "/metrics");
  EXPECT_EQ(reply.status, 200);
  EXPECT_TRUE(reply.content_type.starts_with("text/plain; version=0.0.4"));
  EXPECT_NE(reply.body.find("demo_total 7\n"), std::string::npos);
}

TEST_F(AdminApiTest, StaticFilesOnlyFromTheWebDirectory) {
  const AdminApi api = make_api();
  const AdminReply index = get(api, "/");
  EXPECT_EQ(index.status, 200);
  EXPECT_TRUE(index.content_type.starts_with("text/html"));
  EXPECT_NE(index.body.find("app.js"), std::string::npos);
  EXPECT_TRUE(get(api, "/app.js").content_type.starts_with("text/javascript"));
  for (const char* target : {"/../CMakeLists.txt", "/%2e%2e/CMakeLists.txt", "/.git",
                             "/web/index.html", "/missing.js"}) {
    SCOPED_TRACE(target);
    expect_json_error(get(api, target), 404);
  }
}

TEST_F(AdminApiTest, RecordingIsServedWhenThere) {
  const std::string recordings = dir_ + "/rec";
  std::filesystem::create_directories(recordings);
  std::ofstream(recordings + "/c1.wav") << "RIFF....WAVE";
  const AdminApi api = make_api({"", "", recordings});
  const AdminReply audio = get(api, "/api/calls/c1/audio");
  EXPECT_EQ(audio.status, 200);
  EXPECT_EQ(audio.content_type, "audio/wav");
  EXPECT_EQ(audio.body, "RIFF....WAVE");
  EXPECT_EQ(json::parse(get(api, "/api/calls/c1").body)["recording"], true);
  expect_json_error(get(api, "/api/calls/c2/audio"), 404);
  expect_json_error(get(make_api(), "/api/calls/c1/audio"), 404);  // recording off
}

TEST(AdminListenTest, ParsesAndFlagsLoopback) {
  auto local = parse_listen_address("127.0.0.1:8080");
  ASSERT_TRUE(local.ok());
  EXPECT_TRUE(local->loopback);
  EXPECT_EQ(local->port, 8080);
  auto v6 = parse_listen_address("[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->loopback);
  auto any = parse_listen_address("0.0.0.0:8080");
  ASSERT_TRUE(any.ok());
  EXPECT_FALSE(any->loopback);
  for (const char* bad : {"8080", "127.0.0.1:", "127.0.0.1:99999", "example.com:80", ":80"}) {
    auto parsed = parse_listen_address(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.error().message.find("admin.listen"), std::string::npos);
  }
}

}  // namespace
}  // namespace chalkbot
