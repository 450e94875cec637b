// `switchyard merge OUT IN...`: results of one profile measured in parts (bench --shard on
// several machines, repeated campaigns, several folders) joined into one, in schema
// version 2 (results/SCHEMA.md). Repeated runs of one measurement are pooled, never
// replaced; their rounds are renumbered so that they stay distinct.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace sy::harness {

struct MergeOptions {
  std::string out;
  std::vector<std::string> inputs;
};

// Folders: OUT is a folder and each results file is joined with the files of the same name
// in the other inputs; files: OUT is one file. Warnings (different builds, machines or
// designs) on stderr. Returns the exit code; a bad input is a UsageError.
int merge_results(const MergeOptions& o, const std::string& command);

// The merge of parsed results documents (each version 1 or 2), in order. `names` name them
// in warnings and errors. Pure but for the warnings it prints.
nlohmann::json merge_documents(const std::vector<nlohmann::json>& docs, const std::vector<std::string>& names,
                               const std::string& command);

}  // namespace sy::harness
