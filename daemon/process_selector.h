#pragma once
// Which processes a probes.d file applies to: one pid, every process
// running an executable, every process with a name (comm), or every process
// in a systemd unit's cgroup. Matching works on facts read from /proc once
// per process, so one read serves every config file.
#include "common/result.h"

#include <sys/types.h>

#include <string>
#include <vector>

namespace probed {

struct ProcessSelector {
    enum class Kind { Pid, Exe, Comm, Unit };
    Kind kind = Kind::Comm;
    std::string value; // Exe: absolute path; Comm: name; Unit: "nginx.service"
    pid_t pid = 0;     // Kind::Pid

    // "pid 1234", "exe /usr/sbin/nginx", ...
    std::string describe() const;
    bool operator==(const ProcessSelector& o) const {
        return kind == o.kind && value == o.value && pid == o.pid;
    }
};

struct ProcessFacts {
    pid_t pid = 0;
    std::string exe;                  // /proc/PID/exe, " (deleted)" removed
    std::string comm;                 // /proc/PID/comm
    std::vector<std::string> cgroups; // paths from /proc/PID/cgroup, one per hierarchy
};

// Reads /proc/PID (ProcessGone when it has ended). Kernel threads have no exe.
Result<ProcessFacts> read_process_facts(pid_t pid);
// Every pid in /proc.
std::vector<pid_t> list_pids();

bool selector_matches(const ProcessSelector& sel, const ProcessFacts& facts);
// A unit name as given ("nginx") made full ("nginx.service").
std::string normalize_unit(const std::string& unit);
// True if `cgroup_path` lies in `unit`: a path segment equal to the unit
// whose parent segment is a slice ("/system.slice/nginx.service",
// "/user.slice/user-1000.slice/user@1000.service/app.slice/x.service").
bool cgroup_in_unit(const std::string& cgroup_path, const std::string& unit);

} // namespace probed
