#pragma once
// The credentials of the process at the other end of a Unix socket.
#include "daemon/process_credentials.h"

namespace probed {

// SO_PEERCRED (taken by the kernel at connect time) gives pid, euid and
// egid; /proc/PEERPID/status adds the real and saved ids, groups and
// capabilities. When status cannot be read or no longer agrees with
// SO_PEERCRED (the peer exited, changed identity, or its pid was reused), only
// the SO_PEERCRED ids are trusted: every uid and gid set to them, no groups,
// no capabilities.
Result<ProcessCredentials> peer_credentials(int sock_fd);

} // namespace probed
