#include "daemon/peer_credentials.h"

#include <sys/socket.h>

namespace probed {

Result<ProcessCredentials> peer_credentials(int sock_fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(sock_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return Error::from_errno("SO_PEERCRED");
    auto full = read_process_credentials(cred.pid);
    if (full && full->euid() == cred.uid && full->gids[1] == cred.gid) return full;
    ProcessCredentials minimal;
    minimal.pid = cred.pid;
    minimal.uids = {cred.uid, cred.uid, cred.uid};
    minimal.gids = {cred.gid, cred.gid, cred.gid};
    return minimal;
}

} // namespace probed
