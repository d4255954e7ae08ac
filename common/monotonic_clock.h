#pragma once
// CLOCK_MONOTONIC in nanoseconds: the time base of every event (ts_ns).
#include <cstdint>
#include <ctime>

namespace probed {

inline uint64_t monotonic_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

} // namespace probed
