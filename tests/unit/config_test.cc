#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "core/build_config.h"
#include "core/config.h"

#include <nlohmann/json.hpp>
#include "support/test_support.h"

namespace chalkbot {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::make_temp_dir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& text) {
    const std::string path = dir_ + "/chalkbot.yaml";
    std::ofstream(path) << text;
    return path;
  }

  ConfigSources sources(std::optional<std::string> file = std::nullopt) {
    ConfigSources s;
    s.file = std::move(file);
    s.env = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    return s;
  }

  std::string dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(ConfigTest, DefaultsAreDeclared) {
  auto s = load_settings(sources());
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->vad.end_silence_ms, 300);
  EXPECT_EQ(s->vad.unfinished_silence_ms, 900);
  EXPECT_EQ(s->llm.prefetch_pause_ms, 60);
  EXPECT_FALSE(s->asr.second_pass);
  EXPECT_EQ(s->asr.provider, "moonshine");
  EXPECT_EQ(s->asr.model, "tiny");
  EXPECT_EQ(s->asr.model_dir, std::string(CHALKBOT_SHARE_DIR) + "/models/moonshine");
  EXPECT_EQ(s->tts.provider, "flite");
  EXPECT_NE(s->llm.system_prompt.find("spoken"), std::string::npos);
  // remote speech providers inherit the chat endpoint
  EXPECT_EQ(s->asr.base_url, s->llm.base_url);
}

TEST_F(ConfigTest, AsrModelAndModelDirMeanWhatTheProviderNeeds) {
  auto src = sources();
  src.sets = {{"asr.provider", "pocketsphinx"}};
  auto pocketsphinx = load_settings(src);
  ASSERT_TRUE(pocketsphinx.ok()) << pocketsphinx.error().message;
  EXPECT_EQ(pocketsphinx->asr.model_dir, "/usr/share/pocketsphinx/model/en-us");
  src.sets = {{"asr.provider", "openai"}};
  auto openai = load_settings(src);
  ASSERT_TRUE(openai.ok());
  EXPECT_EQ(openai->asr.model, "whisper-1");
  src.sets = {{"asr.model", "base"}, {"asr.model_dir", "/models"}};
  auto base = load_settings(src);
  ASSERT_TRUE(base.ok());
  EXPECT_EQ(base->asr.model, "base");
  EXPECT_EQ(base->asr.model_dir, "/models");
  src.sets = {{"asr.model", "whisper-1"}};
  auto wrong = load_settings(src);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("asr.model"), std::string::npos) << wrong.error().message;
  EXPECT_NE(wrong.error().message.find("tiny"), std::string::npos);
}

TEST_F(ConfigTest, FileThenEnvironmentThenFlagsWin) {
  const auto path = write("llm:\n  model: from-file\n  max_tokens: 50\nvad:\n  mode: 1\n");
  env_["CHALKBOT_LLM_MODEL"] = "from-env";
  env_["CHALKBOT_VAD_MODE"] = "3";
  auto src = sources(path);
  src.sets = {{"llm.model", "from-flag"}};
  auto s = load_settings(src);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->llm.model, "from-flag");
  EXPECT_EQ(s->llm.max_tokens, 50);
  EXPECT_EQ(s->vad.mode, 3);
}

// tools.http is a list in the file: kept as JSON, typed as YAML reads it (numbers, booleans),
// quoted text staying text.
TEST_F(ConfigTest, ToolsInTheFileAreKeptAsJson) {
  auto s = load_settings(sources(write(R"(tools:
  builtin: end_call
  allowed_hosts: api.example.com
  http:
    - name: order_status
      url: https://api.example.com/orders/{order_id}
      timeout_ms: 2000
      parameters:
        type: object
        properties:
          order_id: {type: integer, minimum: 1}
          code: {type: string, enum: ["007", "true"]}
        required: [order_id]
        additionalProperties: false
)")));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->tools.builtin, "end_call");
  EXPECT_EQ(s->tools.max_rounds, 3);
  const auto http = nlohmann::json::parse(s->tools.http);
  ASSERT_TRUE(http.is_array());
  EXPECT_EQ(http[0]["timeout_ms"], 2000);
  EXPECT_EQ(http[0]["parameters"]["additionalProperties"], false);
  EXPECT_EQ(http[0]["parameters"]["properties"]["order_id"]["minimum"], 1);
  EXPECT_EQ(http[0]["parameters"]["properties"]["code"]["enum"][0], "007");
  EXPECT_EQ(http[0]["parameters"]["properties"]["code"]["enum"][1], "true");
  EXPECT_EQ(http[0]["parameters"]["required"][0], "order_id");
  // Anything else that is not a single value is still refused.
  auto nested = load_settings(sources(write("tools:\n  builtin: [end_call]\n")));
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.error().message.find("tools.builtin: expected a single value"),
            std::string::npos);
}

TEST_F(ConfigTest, UnknownKeyIsNamed) {
  auto s = load_settings(sources(write("llm:\n  modle: x\n")));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("unknown key 'llm.modle'"), std::string::npos)
      << s.error().message;
  EXPECT_NE(s.error().message.find("chalkbot.yaml"), std::string::npos);
}

TEST_F(ConfigTest, WrongTypeIsNamed) {
  auto s = load_settings(sources(write("vad:\n  end_silence_ms: soon\n")));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("vad.end_silence_ms: expected an integer, got 'soon'"),
            std::string::npos)
      << s.error().message;
}

TEST_F(ConfigTest, OutOfRangeAndBadChoice) {
  auto range = load_settings(sources(write("vad:\n  mode: 7\n")));
  ASSERT_FALSE(range.ok());
  EXPECT_NE(range.error().message.find("from 0 to 3"), std::string::npos);
  auto choice = load_settings(sources(write("tts:\n  provider: polly\n")));
  ASSERT_FALSE(choice.ok());
  EXPECT_NE(choice.error().message.find("one of flite, espeak, openai"), std::string::npos);
  auto srtp = load_settings(sources(write("media:\n  srtp: maybe\n")));
  ASSERT_FALSE(srtp.ok());
  EXPECT_NE(srtp.error().message.find("media.srtp: expected one of off, optional, required"),
            std::string::npos)
      << srtp.error().message;
}

TEST_F(ConfigTest, MalformedYamlAndWrongShape) {
  EXPECT_FALSE(load_settings(sources(write("llm: [unclosed\n"))).ok());
  EXPECT_FALSE(load_settings(sources(write("- a\n- b\n"))).ok());
  EXPECT_FALSE(load_settings(sources(write("llm: 5\n"))).ok());
  EXPECT_FALSE(load_settings(sources(dir_ + "/missing.yaml")).ok());
  // Keys that are not plain scalars: these used to throw out of load_settings.
  EXPECT_FALSE(load_settings(sources(write("? [a]\n: b\n"))).ok());
  EXPECT_FALSE(load_settings(sources(write("llm:\n  ? {x: 1}\n  : 2\n"))).ok());
}

TEST_F(ConfigTest, BadEnvironmentValueNamesTheVariable) {
  env_["CHALKBOT_LLM_MAX_RETRIES"] = "many";
  auto s = load_settings(sources());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("CHALKBOT_LLM_MAX_RETRIES"), std::string::npos)
      << s.error().message;
}

TEST_F(ConfigTest, SecretsOnlyFromEnvironmentAndMasked) {
  auto in_file = load_settings(sources(write("llm:\n  api_key: sk-in-file\n")));
  ASSERT_FALSE(in_file.ok());
  EXPECT_NE(in_file.error().message.find("environment only"), std::string::npos);

  env_["OPENAI_API_KEY"] = "sk-secret-value-1234";
  auto s = load_settings(sources());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->llm.api_key, "sk-secret-value-1234");
  EXPECT_EQ(s->tts.api_key, "sk-secret-value-1234");
  const std::string printed = settings_to_yaml(*s);
  EXPECT_EQ(printed.find("sk-secret"), std::string::npos);
  EXPECT_NE(printed.find("api_key: \"***\""), std::string::npos);
  EXPECT_NE(printed.find("model: \"gpt-4o-mini\""), std::string::npos);
}

TEST_F(ConfigTest, LlmEndpointRequired) {
  auto s = load_settings(sources());
  ASSERT_TRUE(s.ok());
  auto missing = require_llm_endpoint(*s);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("OPENAI_API_KEY"), std::string::npos);
  EXPECT_NE(missing.error().message.find("llm.base_url"), std::string::npos);

  env_["CHALKBOT_LLM_BASE_URL"] = "http://127.0.0.1:8080/v1";
  auto local = load_settings(sources());
  ASSERT_TRUE(local.ok());
  EXPECT_TRUE(require_llm_endpoint(*local).ok());
}

TEST_F(ConfigTest, MemoryAcrossCallsIsOffByDefaultAndValidated) {
  auto s = load_settings(sources());
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_FALSE(s->memory.across_calls);
  EXPECT_EQ(s->memory.summaries_per_call, 3);
  EXPECT_EQ(s->memory.retention_days, 90);

  auto on = load_settings(sources(
      write("memory:\n  across_calls: true\n  summaries_per_call: 5\n  retention_days: 7\n")));
  ASSERT_TRUE(on.ok()) << on.error().message;
  EXPECT_TRUE(on->memory.across_calls);
  EXPECT_EQ(on->memory.summaries_per_call, 5);
  EXPECT_EQ(on->memory.retention_days, 7);

  // A bad value names the key and why.
  auto zero = load_settings(sources(write("memory:\n  retention_days: 0\n")));
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.error().message.find("memory.retention_days"), std::string::npos);
  EXPECT_NE(zero.error().message.find("from 1 to 3650"), std::string::npos)
      << zero.error().message;
  env_["CHALKBOT_MEMORY_ACROSS_CALLS"] = "sometimes";
  auto word = load_settings(sources());
  ASSERT_FALSE(word.ok());
  EXPECT_NE(word.error().message.find("CHALKBOT_MEMORY_ACROSS_CALLS"), std::string::npos)
      << word.error().message;
  EXPECT_NE(word.error().message.find("true or false"), std::string::npos);
}

TEST_F(ConfigTest, EveryOptionHasHelpAndEnvName) {
  for (const auto& option : describe_options()) {
    EXPECT_FALSE(option.help.empty()) << option.key;
    EXPECT_EQ(option.env.rfind("CHALKBOT_", 0), 0U) << option.key;
  }
}

}  // namespace
}  // namespace chalkbot
