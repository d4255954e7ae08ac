#pragma once
// Unwinds one stopped thread of a traced process with libdwfl, driven through
// dwfl_attach_state with our own callbacks: the registers are the ones the
// engine already holds (no second ptrace attach, which the kernel would
// refuse anyway), and memory is read as the program sees it, with our
// breakpoints hidden and our hijacked return addresses translated back.
//
// One StackUnwinder per process keeps its Dwfl (and so every module's parsed
// CFI, symbols and line tables) and the frames it described between unwinds;
// /proc/PID/maps is read each time and the modules re-reported only when it
// changed (dlopen, dlclose), which keeps what did not change.
#include "arch/host.h"
#include "common/result.h"
#include "daemon/return_address_fixup.h"
#include "daemon/stack_frame.h"

#include <elfutils/libdwfl.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace probed {

// Tracee memory as the program sees it (our breakpoints hidden).
using TraceeReader = std::function<Result<void>(uint64_t addr, std::span<uint8_t> out)>;

struct UnwindInput {
    pid_t tid = 0;
    arch::host::Regs regs{};  // PC already the one the program would see
    TraceeReader read;
    ReturnAddressFixup* fixup = nullptr; // null: no return probes to undo
    size_t max_frames = 1024;
};

class StackUnwinder {
public:
    static Result<std::unique_ptr<StackUnwinder>> create(pid_t pid);
    // The thread whose /proc files it reads.
    pid_t pid() const { return pid_; }
    ~StackUnwinder();
    StackUnwinder(const StackUnwinder&) = delete;
    StackUnwinder& operator=(const StackUnwinder&) = delete;

    Result<StackTrace> unwind(const UnwindInput& in);

private:
    // What one unwind needs inside the C callbacks (they get `this`).
    struct Walk {
        const UnwindInput* in = nullptr;
        std::map<uint64_t, std::vector<uint8_t>> pages; // stack pages read so far
        struct Raw {
            uint64_t pc = 0;
            bool activation = false;
            // A return address was translated back from the trampoline in
            // the step that produced this frame (for libdwfl's first frame:
            // in its initial registers).
            bool step_translated = false;
        };
        std::vector<Raw> frames;
        bool truncated = false;
        // libdwfl starts from a caller we stepped to ourselves: its first
        // frame's PC is a return address, not where a thread stopped.
        bool starts_at_return = false;
        // libdwfl's first frame was reached through a translated return
        // address (only when starts_at_return).
        bool first_via = false;
        bool translated = false; // since the last frame was reported
    };

    explicit StackUnwinder(pid_t pid);
    Result<void> report_modules();
    bool read_word(uint64_t addr, uint64_t& out);
    bool entry_without_cfi(uint64_t pc);
    bool has_cfi(uint64_t pc);
    std::vector<bool> via_trampoline(const Walk& w);
    StackFrame describe(const Walk::Raw& raw);
    StackFrame describe_uncached(const Walk::Raw& raw);

    static pid_t cb_next_thread(Dwfl*, void* arg, void** thread_arg);
    static bool cb_get_thread(Dwfl*, pid_t tid, void* arg, void** thread_arg);
    static bool cb_memory_read(Dwfl*, Dwarf_Addr addr, Dwarf_Word* result, void* arg);
    static bool cb_set_initial_registers(Dwfl_Thread* thread, void* thread_arg);
    static int cb_frame(Dwfl_Frame* state, void* arg);

    struct DwflEnd {
        void operator()(Dwfl* d) const { dwfl_end(d); }
    };

    pid_t pid_;
    // libdwfl keeps pointers to these: they live as long as the Dwfl.
    std::string debuginfo_path_;
    char* debuginfo_path_ptr_ = nullptr;
    Dwfl_Callbacks callbacks_{};
    Dwfl_Thread_Callbacks thread_callbacks_{};
    std::unique_ptr<Dwfl, DwflEnd> dwfl_;
    bool attached_ = false;
    pid_t next_thread_served_ = 0; // next_thread hands out the one tid once
    // The module lines of /proc/PID/maps as last reported, and what each PC
    // (and whether it is an activation) was described as since: valid while
    // those lines stay the same.
    std::string maps_;
    std::map<std::pair<uint64_t, bool>, StackFrame> described_;
    Walk* walk_ = nullptr;         // the unwind in progress
};

} // namespace probed
