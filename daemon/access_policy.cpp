#include "daemon/access_policy.h"

#include <linux/capability.h>

namespace probed {

namespace {

template <typename Ids> bool all_equal(const Ids& ids, unsigned value) {
    for (auto id : ids)
        if (id != value) return false;
    return true;
}

AccessDecision allow(std::string reason) { return {true, std::move(reason)}; }
AccessDecision deny(std::string reason) { return {false, std::move(reason)}; }

} // namespace

bool AccessPolicy::privileged(const ProcessCredentials& client) {
    return client.euid() == 0 || client.has_capability(CAP_SYS_PTRACE);
}

AccessDecision AccessPolicy::may_trace(const ProcessCredentials& client,
                                       const ProcessCredentials& target) {
    if (client.euid() == 0) return allow("client is root");
    if (client.has_capability(CAP_SYS_PTRACE)) return allow("client has CAP_SYS_PTRACE");
    uid_t uid = client.uids[0];
    gid_t gid = client.gids[0];
    if (!all_equal(client.uids, uid) || !all_equal(client.gids, gid))
        return deny("client's real, effective and saved ids differ");
    std::string who = "pid " + std::to_string(target.pid);
    if (!all_equal(target.uids, uid))
        return deny(who + " belongs to uid " + std::to_string(target.euid()) + ", not to uid " +
                    std::to_string(uid));
    if (!all_equal(target.gids, gid))
        return deny(who + " runs with group " + std::to_string(target.gids[1]) +
                    ", not the client's group " + std::to_string(gid));
    if (!target.dumpable) return deny(who + " is not dumpable");
    return allow("same uid and gid, dumpable");
}

AccessDecision AccessPolicy::may_add_probe(const ProcessCredentials& client, size_t held) const {
    if (privileged(client)) return allow("privileged client: no probe limit");
    if (held >= limits_.max_probes)
        return deny("uid " + std::to_string(client.euid()) + " already holds " +
                    std::to_string(held) + " probes (limit " + std::to_string(limits_.max_probes) +
                    ")");
    return allow("under the probe limit");
}

AccessDecision AccessPolicy::may_subscribe(const ProcessCredentials& client, size_t held) const {
    if (privileged(client)) return allow("privileged client: no subscription limit");
    if (held >= limits_.max_subscriptions)
        return deny("uid " + std::to_string(client.euid()) + " already holds " +
                    std::to_string(held) + " subscriptions (limit " +
                    std::to_string(limits_.max_subscriptions) + ")");
    return allow("under the subscription limit");
}

bool AccessPolicy::owns(const ProcessCredentials& client, uid_t owner_uid) {
    return privileged(client) || client.euid() == owner_uid;
}

} // namespace probed
