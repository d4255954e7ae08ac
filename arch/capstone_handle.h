#pragma once
// RAII owners for Capstone, shared by every backend's decoder.
#include <capstone/capstone.h>

#include <memory>

namespace probed::arch {

// Capstone handles are not thread-safe but are cheap to keep: one per thread
// (thread_local at the call site) avoids both locking and re-opening on every
// probe. get() is 0 when Capstone could not be opened with details on.
class CapstoneHandle {
public:
    CapstoneHandle(cs_arch arch, cs_mode mode) {
        if (cs_open(arch, mode, &handle_) != CS_ERR_OK) {
            handle_ = 0;
            return;
        }
        if (cs_option(handle_, CS_OPT_DETAIL, CS_OPT_ON) != CS_ERR_OK) {
            cs_close(&handle_);
            handle_ = 0;
        }
    }
    ~CapstoneHandle() {
        if (handle_ != 0) cs_close(&handle_);
    }
    CapstoneHandle(const CapstoneHandle&) = delete;
    CapstoneHandle& operator=(const CapstoneHandle&) = delete;

    csh get() const { return handle_; }

private:
    csh handle_ = 0;
};

struct CapstoneInsnDeleter {
    void operator()(cs_insn* insn) const { cs_free(insn, 1); }
};
// One instruction from cs_disasm(..., 1, ...).
using CapstoneInsn = std::unique_ptr<cs_insn, CapstoneInsnDeleter>;

} // namespace probed::arch
