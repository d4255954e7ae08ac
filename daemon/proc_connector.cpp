#include "daemon/proc_connector.h"

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

namespace probed {

Result<ProcConnector> ProcConnector::open() {
    ProcConnector c;
    c.fd_.reset(socket(PF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR));
    if (!c.fd_.valid()) return Error::from_errno("netlink connector socket");
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = CN_IDX_PROC;
    addr.nl_pid = 0; // let the kernel pick a port id
    if (bind(c.fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        return Error::from_errno("bind netlink connector");

    // nlmsghdr, then cn_msg, then the listen op (cn_msg ends in a flexible
    // array, so the three are laid out by hand).
    constexpr size_t kLen = NLMSG_LENGTH(sizeof(cn_msg) + sizeof(proc_cn_mcast_op));
    alignas(nlmsghdr) char msg[kLen] = {};
    auto* nl = reinterpret_cast<nlmsghdr*>(msg);
    nl->nlmsg_len = kLen;
    nl->nlmsg_type = NLMSG_DONE;
    nl->nlmsg_pid = static_cast<__u32>(getpid());
    auto* cn = static_cast<cn_msg*>(NLMSG_DATA(nl));
    cn->id.idx = CN_IDX_PROC;
    cn->id.val = CN_VAL_PROC;
    cn->len = sizeof(proc_cn_mcast_op);
    proc_cn_mcast_op op = PROC_CN_MCAST_LISTEN;
    std::memcpy(cn->data, &op, sizeof op);
    if (send(c.fd_.get(), msg, kLen, 0) < 0) return Error::from_errno("subscribe to process events");
    return c;
}

std::vector<pid_t> ProcConnector::read_execs(bool& overrun) {
    std::vector<pid_t> out;
    alignas(nlmsghdr) char buf[8192];
    while (true) {
        ssize_t n = recv(fd_.get(), buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOBUFS) {
                overrun = true;
                continue;
            }
            return out; // EAGAIN: drained
        }
        if (n == 0) return out;
        auto* nl = reinterpret_cast<nlmsghdr*>(buf);
        int len = static_cast<int>(n);
        for (; NLMSG_OK(nl, static_cast<unsigned>(len)); nl = NLMSG_NEXT(nl, len)) {
            if (nl->nlmsg_type == NLMSG_ERROR || nl->nlmsg_type == NLMSG_NOOP) continue;
            auto* cn = static_cast<cn_msg*>(NLMSG_DATA(nl));
            if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC) continue;
            proc_event ev;
            std::memcpy(&ev, cn->data, std::min<size_t>(sizeof ev, cn->len));
            if (ev.what == proc_event::PROC_EVENT_EXEC) out.push_back(static_cast<pid_t>(ev.event_data.exec.process_tgid));
        }
    }
}

} // namespace probed
