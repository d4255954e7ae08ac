#pragma once
// The tracee memory stores one hit makes, collected so they go out in as few
// writes as possible.
#include "arch/host_types.h"
#include "common/result.h"
#include "daemon/proc_mem.h"

#include <cstdint>

namespace probed {

// Up to two 8-byte stores; adjacent ones (push + hijack, a frame record
// pair) go out as one write.
struct PendingWrites {
    arch::MemoryStore w[2];
    int n = 0;
    void add(arch::MemoryStore m) { w[n++] = m; }
    void clear() { n = 0; }
    Result<void> flush(ProcMem& mem) {
        if (n == 2) {
            const arch::MemoryStore& lo = w[0].address < w[1].address ? w[0] : w[1];
            const arch::MemoryStore& hi = w[0].address < w[1].address ? w[1] : w[0];
            if (hi.address == lo.address + 8) {
                uint64_t both[2] = {lo.value, hi.value};
                return mem.write(lo.address, {reinterpret_cast<const uint8_t*>(both), 16});
            }
        }
        for (int i = 0; i < n; ++i) PROBED_TRY(mem.write_word(w[i].address, w[i].value));
        return {};
    }
};

} // namespace probed
