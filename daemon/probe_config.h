#pragma once
// probes.d: one JSON file per set of probes, e.g. /etc/probed/probes.d/nginx.json
//   {"select": {"unit": "nginx"},
//    "probes": [{"name": "getaddrinfo", "target": "libc:getaddrinfo",
//                "collect": {"error_if": "!= 0", "retval": "int"}}]}
// Every error names the file and line; a bad file never stops the others.
#include "daemon/collect_spec.h"
#include "daemon/probe.h"
#include "daemon/process_selector.h"

#include <string>
#include <variant>
#include <vector>

namespace probed {

struct ConfiguredProbe {
    std::string name;   // unique in its file
    std::string target; // as probe.add's target
    ProbeKind kind = ProbeKind::Return;
    Capture capture;
    CollectSpec collect; // its name defaults to "<file stem>.<probe name>"
    // The probe's settings as one string: equal identities mean "unchanged"
    // when a reload compares the old and new config.
    std::string identity;
};

struct ProbeFile {
    std::string path;
    ProcessSelector select;
    std::vector<ConfiguredProbe> probes;
};

struct ConfigError {
    std::string path;
    int line = 0; // 0: the file as a whole (unreadable)
    int column = 0;
    std::string message;
    // "PATH:LINE:COL: MESSAGE"
    std::string text() const;
};

std::variant<ProbeFile, ConfigError> parse_probe_file(const std::string& path, const std::string& text);

struct ProbesDir {
    std::vector<ProbeFile> files; // sorted by path
    std::vector<ConfigError> errors;
};
// Every *.json in `dir` (a missing directory is an empty config).
ProbesDir load_probes_dir(const std::string& dir);

} // namespace probed
