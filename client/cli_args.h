#pragma once
// probectl's command line, parsed into a passive struct before anything
// touches a socket, so every usage error exits 1 without side effects.
#include "common/result.h"

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace probed::client {

enum class Command { None, Help, Attach, Run, List, Detach, Status, Stack, Stats, Call };

// What the daemon reports per probe hit (protocol.md, probe.add `kind`).
enum class ProbeKind { Return, Entry, Call };

const char* command_name(Command command);
const char* probe_kind_name(ProbeKind kind);

// Options shared by the two streaming commands, attach and run.
struct TraceOptions {
    std::optional<std::uint64_t> count; // stop after this many completed calls
    std::optional<double> duration_s;   // stop after this many seconds
    int args = 6;                       // arguments captured and printed, 0..6
    ProbeKind kind = ProbeKind::Return;
    bool float_retval = false;
};

struct CliArgs {
    Command command = Command::None;
    bool help = false;                  // --help given: print the usage of `command`
    Command help_topic = Command::None; // for `probectl help CMD`

    // Global options.
    std::optional<std::string> socket;
    bool json = false;
    bool no_autostart = false;

    pid_t pid = 0;                                    // attach, detach, stack
    std::optional<pid_t> tid;                         // stack
    std::vector<std::string> functions;               // attach FUNC..., run -p FUNC
    std::vector<std::string> argv;                    // run CMD ARGS...
    std::optional<std::int64_t> probe_id;             // stats PROBE-ID
    std::optional<std::string> collection;            // stats NAME
    std::string method;                               // call
    nlohmann::json params = nlohmann::json::object(); // call
    TraceOptions trace;
};

// Parses argv[1..] (without the program name). On failure `out.command`
// still names the subcommand seen, so the caller can print its usage.
Result<void> parse_cli(const std::vector<std::string>& args, CliArgs& out);

} // namespace probed::client
