#pragma once
// The program's own SIGTRAP disposition, kept so that our traps leave it as
// the program set it.
//
// Every trap of ours (a breakpoint, the return trampoline, a single-step)
// is a signal the kernel forces on the thread (force_sig_info_to_task).
// When the thread has SIGTRAP blocked, or the program ignores SIGTRAP, the
// kernel first resets the disposition to SIG_DFL for the whole process, and
// unblocks SIGTRAP in the thread's mask, so that a debugger's trap cannot be
// lost. A program with a SIGTRAP handler (crash reporters install one) whose
// worker threads block every signal would lose its handler on our first
// hit; one that ignores SIGTRAP would die of its next raise(SIGTRAP).
//
// Nothing tells afterwards whether the thread had SIGTRAP blocked, so the
// disposition must be known before: it is read (an injected rt_sigaction)
// while no trap of ours can have changed it, and looked at again, cheaply,
// in /proc/PID/stat, at the traps themselves.
#include "common/unique_fd.h"

#include <cstdint>
#include <optional>
#include <string_view>

namespace probed {

// The kernel's struct sigaction as rt_sigaction(2) reads and writes it on
// 64-bit Linux (x86_64 and arm64 both have sa_restorer), with an 8-byte
// signal set.
struct KernelSigaction {
    uint64_t handler = 0; // SIG_DFL 0, SIG_IGN 1, else the handler's address
    uint64_t flags = 0;
    uint64_t restorer = 0;
    uint64_t mask = 0;
};
static_assert(sizeof(KernelSigaction) == 32);
inline constexpr uint64_t kKernelSigsetSize = 8;

enum class SigtrapKind : uint8_t { Default, Ignored, Caught };

SigtrapKind kind_of(const KernelSigaction& action);

// SIGTRAP's kind from the text of /proc/PID/stat (its sigignore and
// sigcatch fields, the 33rd and 34th), or nullopt for a malformed text.
std::optional<SigtrapKind> sigtrap_kind_from_stat(std::string_view stat);

// What a look at the disposition calls for.
enum class SigtrapStep : uint8_t {
    Nothing,
    Capture, // read the program's sigaction (it is the program's own now)
    Restore, // a trap of ours reset it: write the kept one back
};

struct SigtrapDisposition {
    // The program's, as last read; `action` is set for Ignored and Caught.
    SigtrapKind kind = SigtrapKind::Default;
    std::optional<KernelSigaction> action;
    // While the program has SIGTRAP at its default, a trap is looked at
    // only this often: the look (a read of /proc/PID/stat, ~3 µs) is for a
    // handler installed since, which is rare.
    static constexpr uint64_t kLookEveryNs = 100'000'000;
    uint64_t next_look_ns = 0;
    // A handler's address may change without its kind changing: the kept
    // sigaction is read again this often, at a trap that found it intact.
    static constexpr uint64_t kCaptureEveryNs = 1'000'000'000;
    uint64_t next_capture_ns = 0;
    // A slot of our page holding `action` for the injected rt_sigaction
    // that puts it back (0: none yet).
    uint64_t action_slot = 0;
    UniqueFd stat_fd; // /proc/PID/stat, kept open

    // Whether a trap at `now_ns` looks at /proc/PID/stat at all.
    bool look_due(uint64_t now_ns) const {
        return kind != SigtrapKind::Default || now_ns >= next_look_ns;
    }
    // At a trap of ours, /proc showing `seen`.
    SigtrapStep step_at_trap(SigtrapKind seen, uint64_t now_ns) const;
    // Where no trap of ours can have reset it since the program last set it
    // (a new thread's first stop, attach, spawn) but another thread's trap
    // may have: a default seen there is never taken as the program's.
    SigtrapStep step_at_rest(SigtrapKind seen) const;
    // The program's sigaction, read at `now_ns`.
    void captured(const KernelSigaction& a, uint64_t now_ns);
    // exec(2) puts caught signals back to SIG_DFL and keeps ignored ones,
    // with no flags and an empty mask; our page went with the old image.
    void after_exec();
    // The copy a followed fork child starts with (its own /proc file).
    SigtrapDisposition for_fork_child() const;
};

} // namespace probed
