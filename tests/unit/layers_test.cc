// The layers of src/ (src/layers.txt): every #include "<folder>/..." in a folder's files names a
// folder it may use, directly or through the folders those may use; the table names every folder
// and has no cycle. The build enforces the same table through each layer's include path; this
// check also covers headers no source includes and names the file, line and edge.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace chalkbot {
namespace {

namespace fs = std::filesystem;

// Each folder and the folders it may use directly.
using LayerTable = std::map<std::string, std::vector<std::string>>;

// Lines "folder: used used ..."; '#' starts a comment.
LayerTable parse_layers(std::istream& in) {
  LayerTable table;
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream names(line.substr(0, colon) + " " + line.substr(colon + 1));
    std::string folder;
    names >> folder;
    auto& uses = table[folder];
    for (std::string used; names >> used;) uses.push_back(used);
  }
  return table;
}

// A cycle of the table as "a -> b -> a", or empty when there is none.
std::string find_cycle(const LayerTable& table) {
  enum class Mark { kVisiting, kDone };
  std::map<std::string, Mark> marks;
  std::vector<std::string> path;
  std::string cycle;
  std::function<bool(const std::string&)> visit = [&](const std::string& folder) {
    if (const auto it = marks.find(folder); it != marks.end()) {
      if (it->second == Mark::kDone) return false;
      const auto start = std::find(path.begin(), path.end(), folder);
      for (auto step = start; step != path.end(); ++step) cycle += *step + " -> ";
      cycle += folder;
      return true;
    }
    marks[folder] = Mark::kVisiting;
    path.push_back(folder);
    if (const auto it = table.find(folder); it != table.end()) {
      for (const auto& used : it->second) {
        if (visit(used)) return true;
      }
    }
    path.pop_back();
    marks[folder] = Mark::kDone;
    return false;
  };
  for (const auto& [folder, uses] : table) {
    if (visit(folder)) return cycle;
  }
  return {};
}

// Every folder `folder` may use: the ones it lists and, through them, theirs. (No cycle.)
std::set<std::string> usable(const LayerTable& table, const std::string& folder) {
  std::set<std::string> out;
  std::vector<std::string> todo{folder};
  while (!todo.empty()) {
    const std::string next = todo.back();
    todo.pop_back();
    const auto it = table.find(next);
    if (it == table.end()) continue;
    for (const auto& used : it->second) {
      if (out.insert(used).second) todo.push_back(used);
    }
  }
  return out;
}

// The folders (the first directories) of `src_dir`.
std::set<std::string> folders_of(const fs::path& src_dir) {
  std::set<std::string> out;
  for (const auto& entry : fs::directory_iterator(src_dir)) {
    if (entry.is_directory()) out.insert(entry.path().filename().string());
  }
  return out;
}

// What breaks the layering in `src_dir`, one line each: an #include of a folder that the
// including file's folder may not use ("agent/speaker.cc:8: agent may not use server"), or a
// folder the table does not name.
std::vector<std::string> layer_violations(const fs::path& src_dir, const LayerTable& table) {
  std::vector<std::string> out;
  const std::set<std::string> folders = folders_of(src_dir);
  for (const auto& folder : folders) {
    if (!table.contains(folder)) out.push_back(folder + "/: no line in the layer table");
  }
  const std::regex include_line(R"(^\s*#\s*include\s*"([A-Za-z0-9_]+)/)");
  for (const auto& entry : fs::recursive_directory_iterator(src_dir)) {
    if (!entry.is_regular_file()) continue;
    const fs::path relative = fs::relative(entry.path(), src_dir);
    if (relative.begin() == relative.end() || std::next(relative.begin()) == relative.end()) {
      continue;  // a file at the top (CMakeLists.txt, layers.txt)
    }
    const std::string folder = relative.begin()->string();
    const std::set<std::string> allowed = usable(table, folder);
    std::ifstream in(entry.path());
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      std::smatch match;
      if (!std::regex_search(line, match, include_line)) continue;
      const std::string used = match[1];
      if (used == folder || !folders.contains(used) || allowed.contains(used)) continue;
      out.push_back(relative.generic_string() + ":" + std::to_string(number) + ": " + folder +
                    " may not use " + used + " (" + line + ")");
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

LayerTable table_from(const std::string& text) {
  std::istringstream in(text);
  return parse_layers(in);
}

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

const fs::path kSrcDir = fs::path(testing::tests_dir()) / ".." / "src";

LayerTable project_table() {
  std::ifstream in(kSrcDir / "layers.txt");
  EXPECT_TRUE(in) << "cannot read " << (kSrcDir / "layers.txt");
  return parse_layers(in);
}

TEST(Layers, TheTableHasNoCycleAndNamesOnlyItsFolders) {
  const LayerTable table = project_table();
  ASSERT_GE(table.size(), 10u);
  EXPECT_EQ(find_cycle(table), "");
  for (const auto& [folder, uses] : table) {
    EXPECT_TRUE(fs::is_directory(kSrcDir / folder)) << folder << " is not a folder of src/";
    for (const auto& used : uses) EXPECT_TRUE(table.contains(used)) << folder << ": " << used;
  }
}

TEST(Layers, EveryIncludeInSrcPointsDown) {
  const std::vector<std::string> violations = layer_violations(kSrcDir, project_table());
  for (const auto& violation : violations) ADD_FAILURE() << "src/" << violation;
  EXPECT_TRUE(violations.empty());
}

TEST(Layers, TheCallEngineKnowsNoSignallingAndNoServer) {
  const std::set<std::string> agent_uses = usable(project_table(), "agent");
  EXPECT_FALSE(agent_uses.contains("sip"));
  EXPECT_FALSE(agent_uses.contains("server"));
  EXPECT_TRUE(agent_uses.contains("core"));
}

TEST(Layers, ABackEdgeIsNamedWithItsFileAndLine) {
  const fs::path dir = testing::make_temp_dir();
  write_file(dir / "core/clock.h", "#pragma once\n#include \"agent/call.h\"\n");
  write_file(dir / "agent/call.cc",
             "#include \"agent/call.h\"\n#include \"core/clock.h\"\n"
             "  #  include \"server/metrics.h\"\n");
  write_file(dir / "agent/call.h", "#include <vector>\n#include \"support/not_a_folder.h\"\n");
  write_file(dir / "server/main.cc", "#include \"core/clock.h\"\n#include \"agent/call.h\"\n");
  write_file(dir / "loose/x.h", "\n");
  const LayerTable table = table_from("core:\nagent: core  # the call\nserver: agent\n");

  EXPECT_EQ(layer_violations(dir, table),
            (std::vector<std::string>{
                "agent/call.cc:3: agent may not use server (  #  include \"server/metrics.h\")",
                "core/clock.h:2: core may not use agent (#include \"agent/call.h\")",
                "loose/: no line in the layer table"}));
}

TEST(Layers, ACycleIsFound) {
  EXPECT_EQ(find_cycle(table_from("core:\nsip: core\nagent: sip\nserver: agent\n")), "");
  EXPECT_EQ(find_cycle(table_from("core: agent\nsip: core\nagent: sip\n")),
            "agent -> sip -> core -> agent");
  EXPECT_EQ(find_cycle(table_from("core: core\n")), "core -> core");
}

}  // namespace
}  // namespace chalkbot
