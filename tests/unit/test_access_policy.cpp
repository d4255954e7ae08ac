#include "daemon/access_policy.h"

#include <doctest/doctest.h>
#include <linux/capability.h>

#include <string>

using namespace probed;

namespace {

// A process whose real, effective and saved ids are all `uid` / `gid`.
ProcessCredentials user(uid_t uid, gid_t gid, pid_t pid = 1000) {
    ProcessCredentials c;
    c.pid = pid;
    c.uids = {uid, uid, uid};
    c.gids = {gid, gid, gid};
    return c;
}

} // namespace

TEST_CASE("root and CAP_SYS_PTRACE may trace anything") {
    ProcessCredentials root = user(0, 0);
    ProcessCredentials other = user(1001, 1001);
    other.dumpable = false;
    CHECK(AccessPolicy::privileged(root));
    CHECK(AccessPolicy::may_trace(root, other).allowed);

    ProcessCredentials tracer = user(1000, 1000);
    CHECK_FALSE(AccessPolicy::privileged(tracer));
    tracer.cap_effective = 1ull << CAP_SYS_PTRACE;
    CHECK(AccessPolicy::privileged(tracer));
    AccessDecision d = AccessPolicy::may_trace(tracer, other);
    CHECK(d.allowed);
    CHECK(d.reason.find("CAP_SYS_PTRACE") != std::string::npos);

    // Other capabilities do not count.
    tracer.cap_effective = (1ull << CAP_DAC_OVERRIDE) | (1ull << CAP_SYS_ADMIN);
    CHECK_FALSE(AccessPolicy::privileged(tracer));
    CHECK_FALSE(AccessPolicy::may_trace(tracer, other).allowed);
}

TEST_CASE("an unprivileged client may trace only its own dumpable processes") {
    ProcessCredentials client = user(1000, 1000);
    CHECK(AccessPolicy::may_trace(client, user(1000, 1000, 42)).allowed);

    AccessDecision root_target = AccessPolicy::may_trace(client, user(0, 0, 1));
    CHECK_FALSE(root_target.allowed);
    CHECK(root_target.reason == "pid 1 belongs to uid 0, not to uid 1000");
    CHECK_FALSE(AccessPolicy::may_trace(client, user(1001, 1000)).allowed);

    ProcessCredentials not_dumpable = user(1000, 1000, 7);
    not_dumpable.dumpable = false;
    AccessDecision d = AccessPolicy::may_trace(client, not_dumpable);
    CHECK_FALSE(d.allowed);
    CHECK(d.reason == "pid 7 is not dumpable");
}

TEST_CASE("every uid and gid of the target must match, as in ptrace_may_access") {
    ProcessCredentials client = user(1000, 1000);
    for (int which = 0; which < 3; ++which) {
        ProcessCredentials setuid_target = user(1000, 1000);
        setuid_target.uids[which] = 0; // e.g. a setuid-root program run by the client
        CHECK_FALSE(AccessPolicy::may_trace(client, setuid_target).allowed);
        ProcessCredentials setgid_target = user(1000, 1000);
        setgid_target.gids[which] = 5;
        AccessDecision d = AccessPolicy::may_trace(client, setgid_target);
        CHECK_FALSE(d.allowed);
        CHECK(d.reason.find("group") != std::string::npos);
    }
    // Supplementary groups play no part.
    ProcessCredentials target = user(1000, 1000);
    target.groups = {4, 27};
    CHECK(AccessPolicy::may_trace(client, target).allowed);
}

TEST_CASE("a client whose own ids differ borrows neither identity") {
    ProcessCredentials half_setuid = user(1000, 1000);
    half_setuid.uids[2] = 1001; // saved uid of another user
    CHECK_FALSE(AccessPolicy::may_trace(half_setuid, user(1000, 1000)).allowed);
    CHECK_FALSE(AccessPolicy::may_trace(half_setuid, user(1001, 1000)).allowed);
    ProcessCredentials mixed_groups = user(1000, 1000);
    mixed_groups.gids[1] = 0;
    CHECK_FALSE(AccessPolicy::may_trace(mixed_groups, user(1000, 1000)).allowed);
}

TEST_CASE("limits bind unprivileged clients only") {
    AccessPolicy policy(AccessLimits{2, 1});
    ProcessCredentials client = user(1000, 1000);
    CHECK(policy.may_add_probe(client, 0).allowed);
    CHECK(policy.may_add_probe(client, 1).allowed);
    AccessDecision over = policy.may_add_probe(client, 2);
    CHECK_FALSE(over.allowed);
    CHECK(over.reason == "uid 1000 already holds 2 probes (limit 2)");
    CHECK(policy.may_subscribe(client, 0).allowed);
    CHECK_FALSE(policy.may_subscribe(client, 1).allowed);

    ProcessCredentials root = user(0, 0);
    CHECK(policy.may_add_probe(root, 1000).allowed);
    CHECK(policy.may_subscribe(root, 1000).allowed);
}

TEST_CASE("probes are seen and removed by their creator's uid or the privileged") {
    CHECK(AccessPolicy::owns(user(1000, 1000), 1000));
    CHECK_FALSE(AccessPolicy::owns(user(1000, 1000), 0));
    CHECK_FALSE(AccessPolicy::owns(user(1000, 1000), 1001));
    CHECK(AccessPolicy::owns(user(0, 0), 1000));
}
