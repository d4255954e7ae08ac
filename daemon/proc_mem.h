#pragma once
// A tracee's memory through an open /proc/PID/mem (pread/pwrite), which also
// writes read-only text (the kernel uses FOLL_FORCE for it).
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

private:
    explicit ProcMem(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

// AT_ENTRY from /proc/PID/auxv: the executable's entry point.
Result<uint64_t> read_entry_point(pid_t pid);

} // namespace probed
