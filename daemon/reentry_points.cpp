#include "daemon/reentry_points.h"

#include <cstddef>

namespace probed {

std::optional<ReentryPoint> ReentryPoints::take(uint64_t site, uint64_t sp, StackBounds& stacks) {
    for (size_t i = points_.size(); i-- > 0;) {
        if (points_[i].site != site || points_[i].sp != sp) continue;
        ReentryPoint found = points_[i];
        points_.resize(i);
        return found;
    }
    // Oldest first: the first point this stop lies at or above ends it and
    // every later one. Only the common case, no point at all, asks nothing
    // of `stacks` (which may read /proc/PID/maps).
    for (size_t i = 0; i < points_.size(); ++i) {
        if (sp >= points_[i].sp && stacks.same_stack(sp, points_[i].sp)) {
            points_.resize(i);
            break;
        }
    }
    return std::nullopt;
}

} // namespace probed
