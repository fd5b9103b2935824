#include "store/dynamodb.h"

#include <charconv>

#include "net/http.h"

namespace chalkbot {

Result<DynamoDbEndpoint> dynamodb_endpoint_from(const std::string& endpoint_url,
                                                const std::string& region, int timeout_ms,
                                                const EnvLookup& env) {
  DynamoDbEndpoint endpoint;
  endpoint.timeout_ms = timeout_ms;
  endpoint.region = region;
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (!endpoint.region.empty()) break;
    endpoint.region = env(name).value_or("");
  }
  if (endpoint.region.empty()) {
    return make_error(
        "dynamodb: no AWS region: set AWS_REGION or store.dynamodb_region (e.g. us-east-1)");
  }
  endpoint.url = endpoint_url.empty() ? "https://dynamodb." + endpoint.region + ".amazonaws.com"
                                      : endpoint_url;
  while (!endpoint.url.empty() && endpoint.url.back() == '/') endpoint.url.pop_back();
  endpoint.credentials.access_key_id = env("AWS_ACCESS_KEY_ID").value_or("");
  endpoint.credentials.secret_access_key = env("AWS_SECRET_ACCESS_KEY").value_or("");
  endpoint.credentials.session_token = env("AWS_SESSION_TOKEN").value_or("");
  if (endpoint.credentials.access_key_id.empty() ||
      endpoint.credentials.secret_access_key.empty()) {
    return make_error(
        "dynamodb: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
        "AWS_SESSION_TOKEN for temporary credentials) in the environment");
  }
  return endpoint;
}

DynamoDbClient::DynamoDbClient(DynamoDbEndpoint endpoint) : endpoint_(std::move(endpoint)) {}

Result<DynamoDbReply> DynamoDbClient::call(std::string_view operation,
                                           const nlohmann::json& request) const {
  HttpRequest http;
  http.method = "POST";
  http.url = endpoint_.url + "/";
  http.body = request.dump();
  http.headers = {{"Content-Type", "application/x-amz-json-1.0"},
                  {"X-Amz-Target", "DynamoDB_20120810." + std::string(operation)}};
  if (!endpoint_.credentials.session_token.empty()) {
    http.headers.push_back({"X-Amz-Security-Token", endpoint_.credentials.session_token});
  }
  http.aws_sigv4 = "aws:amz:" + endpoint_.region + ":dynamodb";
  http.username = endpoint_.credentials.access_key_id;
  http.password = endpoint_.credentials.secret_access_key;
  http.connect_timeout_ms = endpoint_.timeout_ms;
  http.total_timeout_ms = endpoint_.timeout_ms;

  const HttpResponse response = http_perform(http, {}, CancelToken{});
  const std::string what = "dynamodb " + std::string(operation);
  if (response.outcome != HttpOutcome::kComplete) {
    return make_error(what + ": " + std::string(to_string(response.outcome)) +
                      (response.error.empty() ? "" : ": " + response.error));
  }
  DynamoDbReply reply;
  reply.status = response.status;
  reply.body = nlohmann::json::parse(response.body, nullptr, false);
  if (reply.body.is_discarded() || !reply.body.is_object()) {
    return make_error(what + ": HTTP " + std::to_string(response.status) +
                      ", not a DynamoDB answer: " + response.body.substr(0, 200));
  }
  if (response.status >= 200 && response.status < 300) return reply;
  // "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"
  std::string type = string_field(reply.body, "__type");
  if (type.empty()) type = "HTTP " + std::to_string(response.status);
  if (const auto hash = type.rfind('#'); hash != std::string::npos) type = type.substr(hash + 1);
  reply.error_type = type;
  reply.error_message = string_field(reply.body, "message");
  if (reply.error_message.empty()) reply.error_message = string_field(reply.body, "Message");
  return reply;
}

std::string string_field(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return "";
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

nlohmann::json to_attribute_value(const nlohmann::json& value) {
  using nlohmann::json;
  switch (value.type()) {
    case json::value_t::null:
      return {{"NULL", true}};
    case json::value_t::boolean:
      return {{"BOOL", value.get<bool>()}};
    case json::value_t::string:
      return {{"S", value.get<std::string>()}};
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return {{"N", value.dump()}};
    case json::value_t::array: {
      json list = json::array();
      for (const auto& item : value) list.push_back(to_attribute_value(item));
      return {{"L", std::move(list)}};
    }
    case json::value_t::object: {
      json map = json::object();
      for (const auto& [key, item] : value.items()) map[key] = to_attribute_value(item);
      return {{"M", std::move(map)}};
    }
    default:
      return {{"NULL", true}};  // binary and discarded values do not occur in our JSON
  }
}

namespace {

Result<nlohmann::json> parse_number(const std::string& text) {
  auto number = nlohmann::json::parse(text, nullptr, false);
  if (number.is_discarded() || !number.is_number()) {
    return make_error("dynamodb: bad number '" + text + "'");
  }
  return number;
}

}  // namespace

Result<nlohmann::json> from_attribute_value(const nlohmann::json& attribute) {
  using nlohmann::json;
  if (!attribute.is_object() || attribute.size() != 1) {
    return make_error("dynamodb: not an attribute value: " + attribute.dump().substr(0, 100));
  }
  const auto entry = attribute.begin();
  const std::string type = entry.key();
  const json& value = entry.value();
  if (type == "S" && value.is_string()) return value;
  if (type == "N" && value.is_string()) return parse_number(value.get<std::string>());
  if (type == "BOOL" && value.is_boolean()) return value;
  if (type == "NULL") return json(nullptr);
  if ((type == "L" || type == "SS" || type == "NS") && value.is_array()) {
    json out = json::array();
    for (const auto& item : value) {
      Result<json> plain =
          type == "L"    ? from_attribute_value(item)
          : type == "SS" ? Result<json>(item)
                         : parse_number(item.is_string() ? item.get<std::string>() : item.dump());
      if (!plain) return plain.error();
      out.push_back(std::move(*plain));
    }
    return out;
  }
  if (type == "M" && value.is_object()) {
    json out = json::object();
    for (const auto& [key, item] : value.items()) {
      auto plain = from_attribute_value(item);
      if (!plain) return plain.error();
      out[key] = std::move(*plain);
    }
    return out;
  }
  return make_error("dynamodb: unsupported attribute type '" + type + "'");
}

}  // namespace chalkbot
