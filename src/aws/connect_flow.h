#pragma once
// Amazon Connect contact-flow export (flow language, Version 2019-10-30) -> Chalkbot flow
// configuration. The blocks the original AWS shape used map to flow.* (and tts.*) settings; any
// other block, and anything Chalkbot cannot do, is named as unmapped.
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace chalkbot {

struct FlowSetting {
  std::string key;  // e.g. "flow.greeting"
  std::string value;
  std::string from;  // the block it came from: "MessageParticipant 3f2a..."
};

struct UnmappedBlock {
  std::string identifier;
  std::string type;
  std::string reason;
};

struct FlowImport {
  std::vector<FlowSetting> settings;
  std::vector<UnmappedBlock> unmapped;
  std::vector<std::string> notes;  // mapped with a caveat worth reading
};

struct FlowImportOptions {
  // The SIP host (trunk or PBX) that reaches phone numbers: with it, a transfer to a number
  // becomes flow.transfer_to sip:NUMBER@HOST;user=phone. Empty: transfers stay unmapped.
  std::string transfer_via;
};

// Fails when the text is not a flow export (no Actions list, or StartAction missing), or when
// options.transfer_via is not a host.
Result<FlowImport> import_connect_flow(std::string_view export_json,
                                       const FlowImportOptions& options = {});

// The import as a Chalkbot YAML configuration file, with the unmapped blocks and the notes as
// comments at the top.
std::string flow_import_to_yaml(const FlowImport& import);

}  // namespace chalkbot
