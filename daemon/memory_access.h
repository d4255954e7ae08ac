#pragma once
// Raw access to a tracee's memory; the breakpoint table and tests build on it.
#include "common/result.h"

#include <cstdint>
#include <span>

namespace probed {

class MemoryAccess {
public:
    virtual ~MemoryAccess() = default;
    virtual Result<void> read(uint64_t addr, std::span<uint8_t> out) = 0;
    virtual Result<void> write(uint64_t addr, std::span<const uint8_t> data) = 0;
};

} // namespace probed
