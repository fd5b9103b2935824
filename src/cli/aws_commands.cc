// `chalkbot lambda` (the AWS Lambda custom runtime for Lex V2 code hooks) and
// `chalkbot flow import` (Amazon Connect flow export -> Chalkbot configuration).
#include <fstream>
#include <iostream>
#include <sstream>

#include "agent/call_flow.h"
#include "aws/connect_flow.h"
#include "aws/lambda_runtime.h"
#include "aws/lex.h"
#include "cli/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "store/dynamodb_store.h"

namespace chalkbot::cli {
namespace {

// Everything the Lambda needs before its first event; an Error becomes Lambda's init error.
struct LambdaEngines {
  Settings settings;
  std::unique_ptr<ChatModel> model;
  std::unique_ptr<ConversationStore> store;
  std::unique_ptr<LexHandler> handler;
};

Result<std::unique_ptr<LambdaEngines>> open_lambda_engines(const Context& context) {
  auto engines = std::make_unique<LambdaEngines>();
  auto settings = context.settings();
  if (!settings) return settings.error();
  engines->settings = std::move(*settings);
  if (auto ready = require_llm_endpoint(engines->settings); !ready) return ready.error();
  auto model = make_chat_model(engines->settings.llm);
  if (!model) return model.error();
  engines->model = std::move(*model);
  // Always DynamoDB: a Lambda's local disk does not outlive its instance.
  auto store = open_dynamodb_store(engines->settings.store, process_env);
  if (!store) return store.error();
  engines->store = std::move(*store);
  auto flow = CallFlow::from(engines->settings.flow);
  if (!flow) return flow.error();
  engines->handler = std::make_unique<LexHandler>(*engines->model, *engines->store,
                                                  engines->settings, std::move(*flow));
  return engines;
}

}  // namespace

void add_aws_commands(CLI::App& app, Context& context) {
  auto* lambda = app.add_subcommand(
      "lambda",
      "AWS Lambda custom runtime: answer Amazon Lex V2 code-hook events, memory in "
      "DynamoDB (store.dynamodb_*)");
  static int max_invocations = 0;
  static std::string runtime_api;
  lambda
      ->add_option("--max-invocations", max_invocations,
                   "stop after this many events (0 = serve forever, as in Lambda)")
      ->check(CLI::NonNegativeNumber);
  lambda->add_option("--runtime-api", runtime_api,
                     "Runtime API host:port (default: AWS_LAMBDA_RUNTIME_API)");
  lambda->callback([&context] {
    if (runtime_api.empty()) runtime_api = process_env("AWS_LAMBDA_RUNTIME_API").value_or("");
    if (runtime_api.empty()) {
      return context.fail(
          "lambda: AWS_LAMBDA_RUNTIME_API is not set (run inside AWS Lambda, "
          "or pass --runtime-api host:port)",
          2);
    }
    const LambdaRuntimeClient runtime(runtime_api);
    auto engines = open_lambda_engines(context);
    if (!engines) {
      if (auto reported = runtime.report_init_error("Runtime.ConfigError", engines.error().message);
          !reported) {
        std::cerr << "chalkbot: lambda: " << reported.error().message << "\n";
      }
      return context.fail("lambda: " + engines.error().message);
    }
    LexHandler& handler = *(*engines)->handler;
    auto served = run_lambda_loop(
        runtime,
        [&handler](const LambdaInvocation& invocation) -> Result<std::string> {
          LexTurn turn = handler.handle(invocation.event);
          spdlog::info("lambda: request {}: {}", invocation.request_id, to_string(turn.outcome));
          return turn.response.dump();
        },
        max_invocations);
    if (!served) context.fail("lambda: " + served.error().message);
  });

  auto* flow = app.add_subcommand("flow", "call flow tools")->require_subcommand(1);
  auto* import = flow->add_subcommand(
      "import", "Amazon Connect flow export (JSON) -> Chalkbot configuration (YAML on stdout)");
  static std::string export_path;
  static std::string out_path;
  static bool strict = false;
  static FlowImportOptions options;
  import->add_option("export", export_path, "the contact flow export (.json)")
      ->required()
      ->check(CLI::ExistingFile);
  import->add_option("-o,--out", out_path, "write the configuration here instead of stdout");
  import->add_flag("--strict", strict, "exit with status 3 when any block could not be mapped");
  import->add_option("--transfer-via", options.transfer_via,
                     "SIP host (trunk, PBX) that reaches phone numbers: a transfer block becomes "
                     "flow.transfer_to sip:NUMBER@HOST;user=phone");
  import->callback([&context] {
    std::ifstream in(export_path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return context.fail("flow import: cannot read " + export_path);
  auto imported = import_connect_flow(text.str(), options);
  if (!imported) return context.fail(imported.error().message);
  const std::string yaml = flow_import_to_yaml(*imported);
  if (out_path.empty()) {
    std::cout << yaml;
  } else {
    std::ofstream out(out_path);
    out << yaml;
    if (!out) return context.fail("flow import: cannot write " + out_path);
  }
  for (const auto& block : imported->unmapped) {
    std::cerr << "unmapped: " << block.type << " " << block.identifier << ": " << block.reason
              << "\n";
  }
  std::cerr << "flow import: " << imported->settings.size() << " settings, "
            << imported->unmapped.size() << " unmapped blocks\n";
  if (strict && !imported->unmapped.empty()) context.exit_code = 3;
});
}  // namespace chalkbot::cli

}  // namespace chalkbot::cli
