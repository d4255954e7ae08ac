#include "daemon/client_session.h"

namespace probed {

bool Subscription::matches(uint64_t probe_id, pid_t pid) const {
    if (probe_ids.empty() && pids.empty()) return true;
    return probe_ids.count(probe_id) || pids.count(pid);
}

} // namespace probed
