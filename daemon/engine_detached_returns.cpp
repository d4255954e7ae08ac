// Calls still returning to our trampoline after detach: with pointer
// authentication the callee keeps a signed copy of the trampoline address
// that we cannot put the true address into, so the trampoline's page stays
// and its code becomes a lookup that needs no tracer
// (arch/arm64/arm64_detached_return.h explains the stub).
#include "daemon/engine.h"

#include "arch/host.h"
#include "daemon/remote_syscall.h"
#include "daemon/return_locator.h"

#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <set>

namespace probed {

namespace host = arch::host;

namespace {

constexpr uint64_t kPageSize = 4096;

} // namespace

std::vector<bool> Engine::frames_with_signed_trampoline(ProcessState& proc, ThreadState& t,
                                                        const std::vector<ShadowFrame>& frames,
                                                        const host::Regs& regs,
                                                        const std::vector<bool>& live) {
    std::vector<bool> found(frames.size());
    if (!host::kDetachedReturnsNeeded) return found;
    const uint64_t pac_mask = host::pac_code_mask(t.tid);
    if (pac_mask == 0) return found; // no pointer authentication: nothing is signed
    // Searched where the plain value would be (the callee signs x30 in place
    // and spills it into its own frame), ignoring the authentication code.
    auto spots = locate_returns(
        *proc.mem, frames, regs,
        [&](const ShadowFrame& f) -> std::optional<uint64_t> {
            size_t i = static_cast<size_t>(&f - frames.data());
            if (!f.hijacked || live[i]) return std::nullopt;
            return proc.trampoline;
        },
        pac_mask);
    for (const ReturnSpot& spot : spots) found[spot.frame] = true;
    return found;
}

uint64_t Engine::leave_detached_returns(ProcessState& proc, RemoteSyscall* scope,
                                        const std::vector<arch::DetachedReturn>& left) {
    std::vector<arch::DetachedReturn> table;
    std::set<uint64_t> sps;
    for (const arch::DetachedReturn& r : left) {
        if (r.return_address == proc.trampoline) {
            // Its true return address is lost already: returning to it would
            // loop through the stub for ever; missing the table ends in a trap.
            spdlog::error("pid {}: the call at sp {:#x} returns to the trampoline itself", proc.pid,
                          r.entry_sp);
            continue;
        }
        if (!sps.insert(r.entry_sp).second)
            spdlog::warn("pid {}: two calls left at sp {:#x}: the first listed wins", proc.pid,
                         r.entry_sp);
        table.push_back(r);
    }
    const uint64_t stub_at = proc.trampoline;
    const std::vector<uint8_t> bytes = host::detached_return_table(table);
    uint64_t table_at = host::detached_table_after_stub(stub_at);
    if (table_at + bytes.size() > stub_at + kPageSize) {
        // More than the page holds after the stub: a read-only mapping of
        // its own, which stays too.
        uint64_t size = (bytes.size() + kPageSize - 1) & ~(kPageSize - 1);
        Result<int64_t> r = make_error(ErrorKind::Internal, "no thread to run mmap on");
        if (scope) r = scope->call(SYS_mmap, {0, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, ~0ull, 0});
        if (!r || *r < 0) {
            spdlog::error("pid {}: no memory for {} detached returns: the calls will crash",
                          proc.pid, table.size());
            return 0;
        }
        table_at = static_cast<uint64_t>(*r);
    }
    if (auto w = proc.mem->write(table_at, bytes); !w) {
        spdlog::error("pid {}: writing the detached return table: {}", proc.pid, w.error().message);
        return 0;
    }
    if (auto w = proc.mem->write(stub_at, host::detached_return_stub(table_at, table.size())); !w) {
        spdlog::error("pid {}: writing the detached return stub: {}", proc.pid, w.error().message);
        return 0;
    }
    counters_.detached_returns += table.size();
    spdlog::info("pid {}: {} calls hold a signed trampoline address; the page at {:#x} stays "
                 "mapped to return them (table at {:#x}); a return that finds no entry "
                 "there raises SIGTRAP",
                 proc.pid, table.size(), stub_at, table_at);
    return stub_at;
}

} // namespace probed
