#pragma once
// Hand-made /proc/PID/maps lines for the tests of code that reads them.
#include "daemon/proc_maps.h"

#include <cstdint>
#include <string>

namespace probed::testing {

inline MapEntry mapping(uint64_t start, uint64_t end, const std::string& perms = "rw-p",
                        const std::string& path = "") {
    MapEntry m;
    m.start = start;
    m.end = end;
    m.perms = perms;
    m.path = path;
    return m;
}

} // namespace probed::testing
