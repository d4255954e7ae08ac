#pragma once
// The kernel's process events connector (NETLINK_CONNECTOR, CN_IDX_PROC):
// a socket that reports every exec on the system as it happens, so
// configured probes reach programs started after the daemon. Needs root
// (CAP_NET_ADMIN) and the init network namespace; where it is unavailable,
// open() fails and the daemon falls back to scanning /proc.
#include "common/result.h"
#include "common/unique_fd.h"

#include <sys/types.h>

#include <vector>

namespace probed {

class ProcConnector {
public:
    static Result<ProcConnector> open();

    int fd() const { return fd_.get(); }
    // Reads what is waiting (non-blocking): the pids (thread-group ids)
    // that called exec. `overrun` is set when the kernel dropped events
    // (ENOBUFS): the caller should rescan /proc.
    std::vector<pid_t> read_execs(bool& overrun);

private:
    UniqueFd fd_;
};

} // namespace probed
