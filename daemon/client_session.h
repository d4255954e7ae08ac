#pragma once
// What the daemon keeps per connected client: its buffers, its event
// subscription and the probes it owns.
#include "common/line_buffer.h"
#include "common/jsonrpc.h"
#include "common/unique_fd.h"
#include "daemon/process_credentials.h"

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace probed {

struct Subscription {
    std::set<uint64_t> probe_ids; // empty: any
    std::set<pid_t> pids;         // empty: any
    bool matches(uint64_t probe_id, pid_t pid) const;
};

struct ClientSession {
    explicit ClientSession(int fd) : sock(fd), in(rpc::kMaxLine) {}

    UniqueFd sock;
    uint64_t id = 0;
    LineBuffer in;
    std::string out;                       // bytes not yet written
    std::optional<Subscription> subscription;
    std::set<uint64_t> owned_probes;       // removed when the client goes
    std::set<pid_t> held_spawns;           // spawned, not yet resumed: resumed when it goes
    std::map<uint64_t, uint64_t> dropped;  // per probe, not yet reported
    bool closing = false;                  // peer hung up or protocol abuse
    ProcessCredentials peer;               // who connected (SO_PEERCRED), for access checks
    std::set<pid_t> granted_pids;          // processes it was allowed to act on: their exit events

    // Outgoing events beyond this are dropped (and counted); responses are
    // always queued, they are bounded by the client's own requests.
    static constexpr size_t kMaxPendingEvents = 4u << 20;
};

} // namespace probed
