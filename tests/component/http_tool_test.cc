// HTTP tools against a real server on loopback (the stand-in's /tool/ route): validated arguments
// arrive with the secret header; a 500, a timeout or a host the flow file does not list is an
// error result; arguments that fail the schema never reach the server.
#include "llm/http_tool.h"

#include <gtest/gtest.h>

#include <future>

#include "core/clock.h"
#include "support/standin.h"

namespace chalkbot {
namespace {

using nlohmann::json;
using testing::Standin;

class HttpToolTest : public ::testing::Test {
 protected:
  HttpToolTest() {
    const json declared = json::array({{
        {"name", "order_status"},
        {"parameters",
         {{"type", "object"},
          {"properties",
           {{"order_id", {{"type", "integer"}, {"minimum", 1}}},
            {"note", {{"type", "string"}}},
            {"host", {{"type", "string"}}}}},
          {"required", {"order_id"}}}},
        {"method", "POST"},
        {"url", "http://{host}:" + std::to_string(standin.port()) + "/tool/orders/{order_id}"},
        {"headers", {{"X-Api-Key", "${TOOL_KEY}"}}},
        {"timeout_ms", 400},
    }});
    auto made = HttpTools::from(
        declared.dump(), "127.0.0.1:" + std::to_string(standin.port()),
        [](const std::string& name) {
          return name == "TOOL_KEY" ? std::optional<std::string>("k-123") : std::nullopt;
        },
        {});
    EXPECT_TRUE(made.ok()) << made.error().message;
    if (made) tools = std::move(*made);
  }

  ToolResult run(const std::string& arguments) {
    std::promise<ToolResult> promise;
    auto result = promise.get_future();
    auto task = tools.start(engine, {"call_1", "order_status", arguments},
                            [&promise](ToolResult r) { promise.set_value(std::move(r)); });
    EXPECT_EQ(result.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return result.get();
  }

  json tool_requests() const {
    json out = json::array();
    for (const auto& request : standin.requests()) {
      if (request.value("tool", false)) out.push_back(request);
    }
    return out;
  }

  Standin standin;
  HttpEngine engine;
  HttpTools tools;
};

TEST_F(HttpToolTest, ValidatedArgumentsArriveWithTheSecretHeader) {
  const ToolResult result = run(R"({"order_id": 42, "note": "a b&c", "host": "127.0.0.1"})");
  EXPECT_EQ(result.status, ToolStatus::kOk) << result.content;
  EXPECT_EQ(json::parse(result.content)["order_status"], "shipped on Monday");
  const json seen = tool_requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0]["method"], "POST");
  EXPECT_EQ(seen[0]["path"], "/tool/orders/42");
  EXPECT_EQ(seen[0]["body"], json({{"note", "a b&c"}}));
  EXPECT_EQ(seen[0]["x_api_key"], "k-123");
}

TEST_F(HttpToolTest, AFailingServerIsAnErrorResult) {
  standin.control({{"endpoint", "tool"}, {"faults", {"500"}}});
  const ToolResult result = run(R"({"order_id": 1, "host": "127.0.0.1"})");
  EXPECT_EQ(result.status, ToolStatus::kFailed);
  EXPECT_NE(result.content.find("HTTP 500"), std::string::npos) << result.content;
}

TEST_F(HttpToolTest, ASlowServerTimesOut) {
  standin.control({{"endpoint", "tool"}, {"faults", {"hang"}}});
  const auto started = SteadyClock::now();
  const ToolResult result = run(R"({"order_id": 1, "host": "127.0.0.1"})");
  const auto took = std::chrono::duration_cast<Millis>(SteadyClock::now() - started).count();
  EXPECT_EQ(result.status, ToolStatus::kFailed);
  EXPECT_NE(result.content.find("did not answer within 400 ms"), std::string::npos)
      << result.content;
  EXPECT_GE(took, 350);
  EXPECT_LT(took, 3000);
}

TEST_F(HttpToolTest, HostsNotListedAndBadArgumentsNeverReachAServer) {
  const ToolResult elsewhere = run(R"({"order_id": 1, "host": "localhost"})");
  EXPECT_EQ(elsewhere.status, ToolStatus::kFailed);
  EXPECT_NE(elsewhere.content.find("tools.allowed_hosts"), std::string::npos);
  const ToolResult invalid = run(R"({"order_id": "one", "host": "127.0.0.1"})");
  EXPECT_EQ(invalid.status, ToolStatus::kInvalid);
  EXPECT_NE(invalid.content.find("order_id"), std::string::npos) << invalid.content;
  EXPECT_EQ(tool_requests().size(), 0u);
}

}  // namespace
}  // namespace chalkbot
