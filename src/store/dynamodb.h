#pragma once
// A minimal DynamoDB client: JSON requests to the DynamoDB HTTP API (version 2012-08-10), signed
// with SigV4 by libcurl. Credentials come from the standard AWS environment variables and are
// never logged. Also the conversion between plain JSON and DynamoDB's typed attribute values.
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "core/config.h"
#include "core/result.h"

namespace chalkbot {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // temporary credentials (Lambda's role) carry one
};

struct DynamoDbEndpoint {
  std::string url;  // e.g. https://dynamodb.eu-west-1.amazonaws.com or http://127.0.0.1:8000
  std::string region;
  AwsCredentials credentials;
  int timeout_ms = 5000;
};

// The endpoint from settings and the environment (AWS_REGION, AWS_DEFAULT_REGION,
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). Fails naming what is missing.
Result<DynamoDbEndpoint> dynamodb_endpoint_from(const std::string& endpoint_url,
                                                const std::string& region, int timeout_ms,
                                                const EnvLookup& env);

// One DynamoDB answer. `error_type` is DynamoDB's own error, without its namespace (e.g.
// "ConditionalCheckFailedException"), empty on success; `body` is the parsed JSON either way.
struct DynamoDbReply {
  int status = 0;
  std::string error_type;
  std::string error_message;
  nlohmann::json body;

  bool ok() const { return error_type.empty(); }
};

// Thread-safe (each request is independent).
class DynamoDbClient {
 public:
  explicit DynamoDbClient(DynamoDbEndpoint endpoint);

  // Calls `operation` (GetItem, UpdateItem, Scan ...). Errors are transport failures and answers
  // that are not DynamoDB JSON; DynamoDB's own errors come back in the reply.
  Result<DynamoDbReply> call(std::string_view operation, const nlohmann::json& request) const;

 private:
  DynamoDbEndpoint endpoint_;
};

// object[key] when `object` is an object holding a string there, else '' (never throws: the data
// comes from outside).
std::string string_field(const nlohmann::json& object, const char* key);

// Plain JSON <-> DynamoDB attribute values, the way boto3's resource layer writes Python values
// (LangChain's table is written through it): string S, number N, bool BOOL, null NULL, array L,
// object M.
nlohmann::json to_attribute_value(const nlohmann::json& value);
// Accepts S, N, BOOL, NULL, L, M, SS, NS; fails on anything else (binary, malformed).
Result<nlohmann::json> from_attribute_value(const nlohmann::json& attribute);

}  // namespace chalkbot
