// HTTP tools from the flow file: a bad declaration names its key and why; a request is built
// only from arguments that pass the schema, to a host the flow file lists; secrets come from the
// environment. (Against a real server: tests/component/http_tool_test.cc.)
#include "llm/http_tool.h"

#include <gtest/gtest.h>

#include <map>

#include "core/config.h"

namespace chalkbot {
namespace {

using nlohmann::json;

EnvLookup env_of(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    const auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

json order_tool() {
  return json::parse(R"({
    "name": "order_status",
    "description": "Where an order is",
    "parameters": {"type": "object",
                   "properties": {"order_id": {"type": "integer", "minimum": 1},
                                  "detail": {"type": "string", "enum": ["short", "long"]}},
                   "required": ["order_id"], "additionalProperties": false},
    "url": "http://api.example.com:8080/orders/{order_id}",
    "headers": {"X-Api-Key": "${ORDER_KEY}"},
    "timeout_ms": 800
  })");
}

Result<HttpTools> tools_of(const json& declared, const std::string& hosts = "api.example.com",
                           std::map<std::string, std::string> env = {{"ORDER_KEY", "s3cret"}}) {
  return HttpTools::from(declared.dump(), hosts, env_of(std::move(env)), {});
}

std::string error_of(const json& declared, const std::string& hosts = "api.example.com",
                     std::map<std::string, std::string> env = {{"ORDER_KEY", "s3cret"}}) {
  auto tools = tools_of(declared, hosts, std::move(env));
  return tools ? "" : tools.error().message;
}

TEST(HttpTools, ADeclaredToolBecomesARequestWithValidatedArguments) {
  auto tools = tools_of(json::array({order_tool()}));
  ASSERT_TRUE(tools.ok()) << tools.error().message;
  const HttpToolSpec* tool = tools->find("order_status");
  ASSERT_NE(tool, nullptr);
  EXPECT_EQ(tool->method, "GET");
  EXPECT_EQ(tool->filler, kToolFiller);
  auto request = tools->request_for(*tool, R"({"order_id": 42, "detail": "short"})");
  ASSERT_TRUE(request.ok()) << request.error().message;
  EXPECT_EQ(request->url, "http://api.example.com:8080/orders/42?detail=short");
  EXPECT_EQ(request->total_timeout_ms, 800);
  bool keyed = false;
  for (const auto& header : request->headers) keyed |= header.name == "X-Api-Key" && header.value == "s3cret";
  EXPECT_TRUE(keyed);
}

TEST(HttpTools, ArgumentsThatFailTheSchemaMakeNoRequest) {
  auto tools = tools_of(json::array({order_tool()}));
  ASSERT_TRUE(tools.ok());
  const HttpToolSpec& tool = tools->tools()[0];
  for (const char* bad : {R"({"order_id": "42"})", R"({"order_id": 0})", R"({})",
                          R"({"order_id": 4, "extra": 1})", R"({"order_id": 4, "detail": "all"})",
                          R"(not json)", R"([1])"}) {
    auto request = tools->request_for(tool, bad);
    ASSERT_FALSE(request.ok()) << bad;
    EXPECT_EQ(request.error().kind, ErrorKind::kMalformed) << bad;
  }
  bool answered = false;
  HttpEngine engine;
  auto task = tools->start(engine, {"call_1", "order_status", R"({"order_id": -3})"},
                           [&](ToolResult result) {
                             answered = true;
                             EXPECT_EQ(result.status, ToolStatus::kInvalid);
                             EXPECT_NE(result.content.find("order_id"), std::string::npos);
                           });
  EXPECT_EQ(task, nullptr);
  EXPECT_EQ(engine.tasks(), 0u);  // nothing was started
  EXPECT_TRUE(answered);
}

TEST(HttpTools, OnlyListedHostsAreReached) {
  json tool = order_tool();
  tool["parameters"]["properties"]["host"] = {{"type", "string"}};
  tool["url"] = "https://{host}/orders/{order_id}";
  auto tools = tools_of(json::array({tool}), "api.example.com, 127.0.0.1:9999");
  ASSERT_TRUE(tools.ok()) << tools.error().message;
  const HttpToolSpec& spec = tools->tools()[0];
  EXPECT_TRUE(tools->request_for(spec, R"({"order_id": 1, "host": "API.example.com"})").ok());
  for (const char* elsewhere : {R"({"order_id": 1, "host": "evil.example"})",
                                R"({"order_id": 1, "host": "127.0.0.1"})"}) {  // port 443
    auto request = tools->request_for(spec, elsewhere);
    ASSERT_FALSE(request.ok()) << elsewhere;
    EXPECT_NE(request.error().kind, ErrorKind::kMalformed);
    EXPECT_NE(request.error().message.find("tools.allowed_hosts"), std::string::npos);
  }
  // An argument cannot smuggle a path, a user or another host into the URL: it is encoded.
  auto encoded = tools->request_for(spec, R"({"order_id": 1, "host": "evil.example/x@api.example.com"})");
  ASSERT_FALSE(encoded.ok());
}

TEST(HttpTools, APostSendsTheArgumentsNotInTheUrlAsJson) {
  json tool = order_tool();
  tool["method"] = "post";
  tool["url"] = "http://api.example.com/orders/{order_id}/notes";
  auto tools = tools_of(json::array({tool}));
  ASSERT_TRUE(tools.ok());
  auto request = tools->request_for(tools->tools()[0], R"({"order_id": 7, "detail": "long"})");
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->method, "POST");
  EXPECT_EQ(request->url, "http://api.example.com/orders/7/notes");
  EXPECT_EQ(json::parse(request->body), json({{"detail", "long"}}));
}

TEST(HttpTools, ABadDeclarationNamesItsKeyAndWhy) {
  const auto with = [](const char* key, json value) {
    json tool = order_tool();
    if (value.is_null()) {
      tool.erase(key);
    } else {
      tool[key] = std::move(value);
    }
    return json::array({tool});
  };
  EXPECT_EQ(error_of(with("url", "ftp://x/y")),
            "tools.http[0] (order_status).url: 'ftp://x/y' is not an http(s) URL");
  EXPECT_NE(error_of(with("url", nullptr)).find("tools.http[0] (order_status).url: required"),
            std::string::npos);
  EXPECT_NE(error_of(with("url", "http://api.example.com/{nope}")).find("{nope} is not one"),
            std::string::npos);
  EXPECT_NE(error_of(with("method", "TRACE")).find(".method: expected GET"), std::string::npos);
  EXPECT_NE(error_of(with("timeout_ms", 0)).find(".timeout_ms: expected an integer"),
            std::string::npos);
  EXPECT_NE(error_of(with("parameters", json::parse(R"({"type":"object","pattern":"x"})")))
                .find(".parameters:"),
            std::string::npos);
  EXPECT_NE(error_of(with("name", "has space")).find("tools.http[0] (has space).name"),
            std::string::npos);
  EXPECT_NE(error_of(with("colour", "red")).find(".colour: unknown key"), std::string::npos);
  // A credential written into the file, or an environment variable that is not set.
  EXPECT_NE(error_of(with("headers", {{"Authorization", "Bearer abc"}}))
                .find(".headers.Authorization: a credential"),
            std::string::npos);
  EXPECT_NE(error_of(json::array({order_tool()}), "api.example.com", {})
                .find(".headers.X-Api-Key: environment variable ORDER_KEY is not set"),
            std::string::npos);
  EXPECT_EQ(error_of(json::array({order_tool(), order_tool()})),
            "tools.http[1] (order_status).name: 'order_status' is already a tool's name");
  EXPECT_EQ(error_of(json::object()), "tools.http: expected a list of tools");
  EXPECT_EQ(error_of(json::array(), "api.example.com/path"),
            "tools.allowed_hosts: 'api.example.com/path' is not host or host:port");
}

TEST(UrlHost, SplitsHostAndPort) {
  EXPECT_EQ(url_host("https://Example.COM/x")->host, "example.com");
  EXPECT_EQ(url_host("https://example.com/x")->port, 443);
  EXPECT_EQ(url_host("http://127.0.0.1:8080")->port, 8080);
  EXPECT_EQ(url_host("http://[::1]:81/a")->host, "::1");
  EXPECT_FALSE(url_host("http://user@host/").ok());
  EXPECT_FALSE(url_host("http://host:99999/").ok());
  EXPECT_FALSE(url_host("file:///etc/passwd").ok());
}

}  // namespace
}  // namespace chalkbot
