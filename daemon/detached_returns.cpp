#include "daemon/detached_returns.h"

#include "daemon/return_locator.h"

#include <spdlog/spdlog.h>

namespace probed {

namespace host = arch::host;

namespace {

constexpr uint64_t kPageSize = 4096;
constexpr uint64_t kEntryBytes = 16;

} // namespace

std::vector<arch::DetachedReturn> signed_pending_calls(MemoryAccess& mem, pid_t tid,
                                                      std::span<const ShadowFrame> frames,
                                                      const host::Regs& regs,
                                                      uint64_t trampoline) {
    std::vector<arch::DetachedReturn> out;
    if (!host::kDetachedReturnsNeeded || trampoline == 0) return out;
    const uint64_t pac_mask = host::pac_code_mask(tid);
    if (pac_mask == 0) return out; // no pointer authentication: nothing is signed
    // Searched where the plain value would be (the callee signs x30 in place
    // and spills it into its own frame), ignoring the authentication code.
    ProcessStackBounds stacks(tid);
    auto spots = locate_returns(
        mem, frames, regs, stacks,
        [&](const ShadowFrame& f) {
            return f.hijacked ? std::optional<uint64_t>(trampoline) : std::nullopt;
        },
        pac_mask);
    std::vector<bool> found(frames.size());
    for (const ReturnSpot& spot : spots) found[spot.frame] = true;
    for (size_t i = frames.size(); i-- > 0;) {
        if (!found[i]) continue;
        if (frames[i].return_address == trampoline) {
            // Its true return address is lost: returning there would loop
            // through the stub for ever; missing the table ends in a trap.
            spdlog::error("tid {}: the call at sp {:#x} returns to the trampoline itself", tid,
                          frames[i].entry_sp);
            continue;
        }
        out.push_back({frames[i].entry_sp, frames[i].return_address});
    }
    return out;
}

uint64_t detached_table_in_page(uint64_t trampoline, size_t entries) {
    const uint64_t table = host::detached_table_after_stub(trampoline);
    const uint64_t page_end = (trampoline & ~(kPageSize - 1)) + kPageSize;
    return table + entries * kEntryBytes <= page_end ? table : 0;
}

Result<void> write_detached_returns(MemoryAccess& mem, uint64_t trampoline, uint64_t table_at,
                                    std::span<const arch::DetachedReturn> table) {
    PROBED_TRY(mem.write(table_at, host::detached_return_table(table)));
    return mem.write(trampoline, host::detached_return_stub(table_at, table.size()));
}

} // namespace probed
