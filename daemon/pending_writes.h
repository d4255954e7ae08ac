#pragma once
// The tracee memory stores one hit makes, collected so they go out in as few
// writes as possible.
#include "arch/host_types.h"
#include "common/result.h"
#include "daemon/proc_mem.h"

#include <cstdint>
#include <optional>

namespace probed {

// Up to two 8-byte stores; adjacent ones (push + hijack, a frame record
// pair) go out as one write. A store of the displaced instruction itself
// (`add_insn_store`) is made with the program's own page rights: where the
// program could not write, the CPU would fault, and so must the program.
struct PendingWrites {
    arch::MemoryStore w[2];
    bool insn[2] = {false, false};
    int n = 0;
    void add(arch::MemoryStore m) { add(m, false); }
    void add_insn_store(arch::MemoryStore m) { add(m, true); }
    void clear() { n = 0; }

    // Writes them all, or, when the program's page rights refuse the
    // instruction's stores, only the others (ours: the return hijack), and
    // returns the address the instruction faults at.
    Result<std::optional<uint64_t>> flush(ProcMem& mem) {
        if (n == 2 && (insn[0] || insn[1])) {
            const int lo = w[0].address < w[1].address ? 0 : 1;
            const int hi = 1 - lo;
            if (w[hi].address == w[lo].address + 8) {
                uint64_t both[2] = {w[lo].value, w[hi].value};
                auto written = mem.write_as_program(
                    w[lo].address, {reinterpret_cast<const uint8_t*>(both), 16});
                if (!written) return std::move(written).error();
                if (*written) return std::optional<uint64_t>();
                return write_ours_only(mem);
            }
        }
        for (int i = 0; i < n; ++i) {
            if (!insn[i]) continue;
            auto written = mem.write_as_program(
                w[i].address, {reinterpret_cast<const uint8_t*>(&w[i].value), 8});
            if (!written) return std::move(written).error();
            if (!*written) return write_ours_only(mem);
        }
        for (int i = 0; i < n; ++i)
            if (!insn[i]) PROBED_TRY(mem.write_word(w[i].address, w[i].value));
        return std::optional<uint64_t>();
    }

private:
    void add(arch::MemoryStore m, bool from_insn) {
        insn[n] = from_insn;
        w[n++] = m;
    }
    // The instruction's stores were refused (none made): ours still go.
    Result<std::optional<uint64_t>> write_ours_only(ProcMem& mem) {
        uint64_t fault_at = UINT64_MAX;
        for (int i = 0; i < n; ++i) {
            if (insn[i]) fault_at = std::min(fault_at, w[i].address);
            else PROBED_TRY(mem.write_word(w[i].address, w[i].value));
        }
        return std::optional<uint64_t>(fault_at);
    }
};

} // namespace probed
