#pragma once
// Log set-up shared by every subcommand: UTC timestamps, a level, and either
// human-readable lines or one JSON object per line for log shippers
// ({"time":...,"level":...,"msg":...}, the message escaped).
#include <string>

namespace lethe::infra {

enum class LogFormat { text, json };

void configure_logging(const std::string& level, LogFormat format);

}  // namespace lethe::infra
