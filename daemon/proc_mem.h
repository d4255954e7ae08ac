#pragma once
// A tracee's memory through an open /proc/PID/mem (pread/pwrite), which also
// writes read-only text (the kernel uses FOLL_FORCE for it), and the stores
// a simulated instruction makes for the program, with the program's own
// page rights.
#include "common/unique_fd.h"
#include "daemon/memory_access.h"

#include <sys/types.h>

namespace probed {

class ProcMem final : public MemoryAccess {
public:
    static Result<ProcMem> open(pid_t pid);

    Result<void> read(uint64_t addr, std::span<uint8_t> out) override;
    Result<void> write(uint64_t addr, std::span<const uint8_t> data) override;
    Result<uint64_t> read_word(uint64_t addr);
    Result<void> write_word(uint64_t addr, uint64_t value);
    // A store the program's instruction would make (process_vm_writev, no
    // FOLL_FORCE): false, with nothing written, where the program's page
    // rights refuse it and the CPU would fault. FOLL_FORCE would write into
    // a PROT_NONE guard page and let a stack overflow run on.
    Result<bool> write_as_program(uint64_t addr, std::span<const uint8_t> data);

private:
    ProcMem(pid_t pid, UniqueFd fd) : pid_(pid), fd_(std::move(fd)) {}
    pid_t pid_;
    UniqueFd fd_;
};

// AT_ENTRY from /proc/PID/auxv: the executable's entry point.
Result<uint64_t> read_entry_point(pid_t pid);

} // namespace probed
