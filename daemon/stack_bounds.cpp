#include "daemon/stack_bounds.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace probed {

std::optional<StackRegion> stack_region(const std::vector<MapEntry>& maps, uint64_t addr) {
    if (const MapEntry* m = find_mapping(maps, addr)) return StackRegion{m->start, m->end};
    // Not mapped: the growth zone of "[stack]" if that is the next mapping up.
    auto above = std::upper_bound(maps.begin(), maps.end(), addr,
                                  [](uint64_t a, const MapEntry& e) { return a < e.start; });
    if (above != maps.end() && above->path == "[stack]")
        return StackRegion{above->start, above->end};
    return std::nullopt;
}

bool MappedStackBounds::same_stack(uint64_t a, uint64_t b) {
    auto ra = stack_region(maps_, a);
    return ra && ra == stack_region(maps_, b);
}

bool ProcessStackBounds::same_stack(uint64_t a, uint64_t b) {
    if (!mapped_ && !unreadable_) {
        auto maps = read_();
        if (maps && !maps->empty()) {
            mapped_.emplace(std::move(*maps));
        } else {
            unreadable_ = true;
            spdlog::debug("stack bounds by distance: {}",
                          maps ? "no mappings" : maps.error().message);
        }
    }
    if (mapped_) return mapped_->same_stack(a, b);
    return fallback_.same_stack(a, b);
}

} // namespace probed
