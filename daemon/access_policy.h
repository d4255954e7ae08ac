#pragma once
// Who may do what through the daemon's socket. The daemon runs with the
// privilege to trace anything, so it must not lend that privilege to its
// clients: a client may act on a process only where the kernel would let the
// client ptrace it itself, and every client's share of the daemon is capped.
// Pure decisions on credential values; the RPC layer gathers the values and
// logs the verdicts.
#include "daemon/process_credentials.h"

#include <cstddef>
#include <string>

namespace probed {

struct AccessLimits {
    // Apply to unprivileged clients, counted per uid (across connections).
    size_t max_probes = 256;
    size_t max_subscriptions = 16;
};

struct AccessDecision {
    bool allowed = false;
    std::string reason; // for the log and the error message
};

class AccessPolicy {
public:
    explicit AccessPolicy(AccessLimits limits = {}) : limits_(limits) {}

    const AccessLimits& limits() const { return limits_; }

    // Root (euid 0) or CAP_SYS_PTRACE: may act on any process, no limits.
    static bool privileged(const ProcessCredentials& client);

    // The kernel's ptrace_may_access (PTRACE_MODE_ATTACH_REALCREDS) for an
    // unprivileged caller: the target's real, effective and saved uids all
    // equal the caller's, likewise the gids, and the target is dumpable.
    // We also require the client's own ids to be all alike, so a
    // setuid-style client whose ids differ cannot borrow either identity.
    static AccessDecision may_trace(const ProcessCredentials& client,
                                    const ProcessCredentials& target);

    // `held` is how many the client's uid already has.
    AccessDecision may_add_probe(const ProcessCredentials& client, size_t held) const;
    AccessDecision may_subscribe(const ProcessCredentials& client, size_t held) const;

    // Whether the client may see or remove a probe created by `owner_uid`.
    static bool owns(const ProcessCredentials& client, uid_t owner_uid);

private:
    AccessLimits limits_;
};

} // namespace probed
