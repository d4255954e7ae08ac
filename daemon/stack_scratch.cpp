#include "daemon/stack_scratch.h"

#include "daemon/proc_maps.h"

namespace probed {

namespace host = arch::host;

Result<uint64_t> dead_stack_floor(pid_t tid, const host::Regs& regs) {
    auto maps = read_proc_maps(tid);
    if (!maps)
        return std::move(maps).error();
    const MapEntry* m = find_mapping(*maps, host::stack_pointer_of(regs) - 1);
    if (!m)
        return make_error(ErrorKind::Internal, "no mapping below the stack pointer");
    if (!m->readable() || !m->writable())
        return make_error(ErrorKind::Internal, "the stack below the stack pointer is not writable");
    return m->start;
}

Result<StackScratch> StackScratch::borrow(MemoryAccess& mem, uint64_t at, size_t bytes) {
    std::vector<uint8_t> saved(bytes);
    PROBED_TRY(mem.read(at, saved));
    return StackScratch(mem, at, std::move(saved));
}

Result<StackScratch> StackScratch::below_stack(MemoryAccess& mem, pid_t tid, const host::Regs& regs,
                                               size_t bytes) {
    auto floor = dead_stack_floor(tid, regs);
    if (!floor)
        return std::move(floor).error();
    const uint64_t at = host::scratch_below_stack(regs, bytes);
    if (at < *floor)
        return make_error(ErrorKind::Internal, "no room below the stack pointer");
    return borrow(mem, at, bytes);
}

StackScratch::StackScratch(StackScratch&& other) noexcept
    : mem_(other.mem_), at_(other.at_), saved_(std::move(other.saved_)) {
    other.mem_ = nullptr;
}

StackScratch::~StackScratch() {
    if (mem_)
        (void)mem_->write(at_, saved_);
}

} // namespace probed
