#pragma once
// probed.conf: the daemon's settings, one `key = value` per line, '#'
// comments, blank lines ignored. Sizes take K, M or G (powers of 1024),
// intervals ms or s. Every error names the file and line. Settings given
// on the command line win over the file.
#include "common/result.h"

#include <cstdint>
#include <optional>
#include <string>

namespace probed {

struct DaemonConfig {
    std::optional<std::string> socket;
    std::optional<std::string> log_level;
    std::optional<std::string> state_dir;
    std::optional<std::string> probes_dir;
    std::optional<uint64_t> queue;            // events between tracer and RPC thread
    std::optional<uint64_t> collect_queue;    // events waiting to be written
    std::optional<uint64_t> rotate_size;      // bytes
    std::optional<uint64_t> retain_files;
    std::optional<uint64_t> retain_size;      // bytes
    std::optional<uint64_t> scan_interval_ms; // /proc scan for new processes
};

// `path` only names the file in messages ("probed.conf:3: ...").
Result<DaemonConfig> parse_daemon_config(const std::string& text, const std::string& path);
Result<DaemonConfig> load_daemon_config(const std::string& path);

// "64M" -> 67108864; nullopt for anything else.
std::optional<uint64_t> parse_size(const std::string& text);
// "500ms", "2s", "1500" (ms) -> milliseconds.
std::optional<uint64_t> parse_interval_ms(const std::string& text);

} // namespace probed
