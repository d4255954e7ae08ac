#include "daemon/address_space_gap.h"

#include <algorithm>

namespace probed {

namespace {

// The kernel keeps stack_guard_gap (256 pages by default) free below a
// growing stack; a mapping there would stop the stack from growing.
constexpr uint64_t kStackGuard = 16ull << 20;

uint64_t distance(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

} // namespace

std::optional<uint64_t> find_free_range_near(const std::vector<MapEntry>& maps, uint64_t near,
                                             uint64_t max_distance, uint64_t size,
                                             const std::vector<uint64_t>& skip) {
    constexpr uint64_t page = 4096;
    std::vector<std::pair<uint64_t, uint64_t>> used;
    for (const auto& m : maps) {
        uint64_t lo = m.start;
        if (m.path == "[stack]") lo = m.start > kStackGuard ? m.start - kStackGuard : 0;
        used.emplace_back(lo, m.end);
    }
    std::sort(used.begin(), used.end());

    std::optional<uint64_t> best;
    auto consider = [&](uint64_t gap_lo, uint64_t gap_hi) {
        gap_lo = std::max(gap_lo, kLowestMapAddress);
        gap_hi = std::min(gap_hi, kHighestMapAddress);
        if (gap_hi <= gap_lo || gap_hi - gap_lo < size) return;
        uint64_t want = near & ~(page - 1);
        uint64_t cand = std::clamp(want, gap_lo, gap_hi - size);
        cand = (cand + page - 1) & ~(page - 1);
        if (cand + size > gap_hi) return;
        if (std::find(skip.begin(), skip.end(), cand) != skip.end()) return;
        uint64_t far_end = distance(cand, near) > distance(cand + size - 1, near) ? cand
                                                                                   : cand + size - 1;
        if (distance(far_end, near) > max_distance) return;
        if (!best || distance(cand, near) < distance(*best, near)) best = cand;
    };

    uint64_t prev_end = 0;
    for (const auto& [lo, hi] : used) {
        if (lo > prev_end) consider(prev_end, lo);
        prev_end = std::max(prev_end, hi);
    }
    consider(prev_end, kHighestMapAddress);
    return best;
}

} // namespace probed
