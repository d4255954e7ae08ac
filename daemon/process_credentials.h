#pragma once
// Who a process is, as the kernel's ptrace access check sees it: its real,
// effective and saved uids and gids, supplementary groups, effective
// capabilities and whether it is dumpable. Read from /proc/PID/status.
#include "common/result.h"

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace probed {

struct ProcessCredentials {
    pid_t pid = 0;
    std::array<uid_t, 3> uids{}; // real, effective, saved
    std::array<gid_t, 3> gids{}; // real, effective, saved
    std::vector<gid_t> groups;   // supplementary
    uint64_t cap_effective = 0;  // CapEff bit mask
    bool dumpable = true;

    uid_t uid() const { return uids[0]; }
    uid_t euid() const { return uids[1]; }
    bool has_capability(int cap) const {
        return cap >= 0 && cap < 64 && (cap_effective >> cap) & 1;
    }
};

// Parses the Uid:, Gid:, Groups: and CapEff: lines of a /proc/PID/status
// text (dumpability is not in it; see read_process_credentials).
Result<ProcessCredentials> parse_proc_status(std::string_view text);

// /proc/PID/status plus dumpability: the kernel makes the files under
// /proc/PID of a non-dumpable process owned by root (task_dump_owner; the
// directory itself keeps the process's uid), so a status file whose owner is
// not the process's effective uid and gid means "not dumpable".
Result<ProcessCredentials> read_process_credentials(pid_t pid);

} // namespace probed
