#include "daemon/injected_code.h"

#include <spdlog/spdlog.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include <csignal>

namespace probed {

namespace host = arch::host;

namespace {
constexpr uint64_t kSigtrapBit = 1ull << (SIGTRAP - 1);
} // namespace

Result<InjectedCode> InjectedCode::begin(ProcessState& proc, ThreadState& thread,
                                         const std::vector<uint8_t>& code) {
    return begin(InjectionTarget{proc.mem.get(), proc.entry_point, thread.tid,
                                 &thread.held_signal},
                 code);
}

Result<InjectedCode> InjectedCode::begin(const InjectionTarget& target,
                                         const std::vector<uint8_t>& code) {
    InjectedCode ic(target);
    auto regs = host::get_regs(target.tid);
    if (!regs) return std::move(regs).error();
    ic.saved_regs_ = *regs;
    ic.saved_code_.resize(code.size());
    PROBED_TRY(target.mem->read(target.code_at, ic.saved_code_));
    // Our code ends in a trap. With SIGTRAP blocked (pthread_create runs
    // clone with every signal blocked) the kernel's force_sig would reset
    // the program's SIGTRAP handler to SIG_DFL and unblock SIGTRAP for good:
    // unblock it ourselves for the run and put the mask back after.
    uint64_t mask = 0;
    if (ptrace(PTRACE_GETSIGMASK, target.tid, sizeof mask, &mask) == 0 &&
        (mask & kSigtrapBit) != 0) {
        const uint64_t open = mask & ~kSigtrapBit;
        if (ptrace(PTRACE_SETSIGMASK, target.tid, sizeof open, &open) == 0)
            ic.blocked_mask_ = mask;
    }
    PROBED_TRY(target.mem->write(target.code_at, code));
    ic.active_ = true;
    return ic;
}

InjectedCode::InjectedCode(InjectedCode&& o) noexcept
    : target_(o.target_), saved_regs_(o.saved_regs_), saved_code_(std::move(o.saved_code_)),
      active_(o.active_), lost_(o.lost_), blocked_mask_(o.blocked_mask_) {
    o.active_ = false;
    o.blocked_mask_.reset();
}

InjectedCode::~InjectedCode() { restore(); }

void InjectedCode::restore() {
    if (blocked_mask_ && !lost_)
        (void)ptrace(PTRACE_SETSIGMASK, target_.tid, sizeof *blocked_mask_, &*blocked_mask_);
    blocked_mask_.reset();
    if (!active_ || lost_) return;
    active_ = false;
    // Failures here mean the process died; nothing left to restore.
    (void)target_.mem->write(target_.code_at, saved_code_);
    (void)host::set_regs(target_.tid, saved_regs_);
}

void InjectedCode::hold_signal(int sig) {
    if (*target_.held_signal == 0) *target_.held_signal = sig;
    else spdlog::warn("tid {}: second signal {} while running our code dropped", target_.tid, sig);
}

Result<std::optional<WaitStatus>> InjectedCode::next_stop() {
    while (true) {
        int raw = 0;
        if (waitpid(target_.tid, &raw, __WALL) < 0) {
            if (errno == EINTR) continue;
            return Error::from_errno("waitpid");
        }
        WaitStatus st(raw);
        if (st.exited_or_killed()) {
            lost_ = st;
            return std::optional<WaitStatus>{};
        }
        return std::optional(st);
    }
}

Result<host::Regs> InjectedCode::run(const host::Regs& regs, uint64_t done_pc) {
    if (lost_) return make_error(ErrorKind::ProcessGone, "thread exited while running our code");
    PROBED_TRY(host::set_regs(target_.tid, regs));
    pid_t tid = target_.tid;
    if (ptrace(PTRACE_CONT, tid, nullptr, nullptr) != 0) return Error::from_errno("PTRACE_CONT");
    while (true) {
        auto st = next_stop();
        if (!st) return std::move(st).error();
        if (!*st) return make_error(ErrorKind::ProcessGone, "thread exited while running our code");
        if ((*st)->kind() == WaitStatus::Kind::SignalStop && (*st)->signal() == SIGTRAP) {
            auto now = host::get_regs(tid);
            if (!now) return std::move(now).error();
            if (host::pc_of(*now) == done_pc) return *now;
        }
        if ((*st)->kind() == WaitStatus::Kind::SignalStop) {
            // A signal for the program: keep it and deliver it once we let go.
            hold_signal((*st)->signal());
        } else if ((*st)->kind() == WaitStatus::Kind::EventStop) {
            spdlog::debug("tid {}: event {} while running our code", tid, (*st)->event());
        }
        if (ptrace(PTRACE_CONT, tid, nullptr, nullptr) != 0) return Error::from_errno("PTRACE_CONT");
    }
}

Result<host::Regs> InjectedCode::run_to_syscall_exit_and_end(const host::Regs& regs) {
    if (lost_) return make_error(ErrorKind::ProcessGone, "thread exited while running our code");
    const pid_t tid = target_.tid;
    const auto gone = [] {
        return make_error(ErrorKind::ProcessGone, "thread exited while running our code");
    };
    PROBED_TRY(host::set_regs(tid, regs));
    // Without PTRACE_O_TRACESYSGOOD a system call stop reads as a SIGTRAP
    // stop whose siginfo has si_code SIGTRAP; the first is its entry.
    int syscall_stops = 0;
    host::Regs done{};
    while (syscall_stops < 2) {
        if (ptrace(PTRACE_SYSCALL, tid, nullptr, nullptr) != 0) return Error::from_errno("PTRACE_SYSCALL");
        auto st = next_stop();
        if (!st) return std::move(st).error();
        if (!*st) return gone();
        if ((*st)->kind() != WaitStatus::Kind::SignalStop) continue;
        siginfo_t si{};
        if ((*st)->signal() == SIGTRAP && ptrace(PTRACE_GETSIGINFO, tid, nullptr, &si) == 0 &&
            si.si_code == SIGTRAP) {
            ++syscall_stops;
            continue;
        }
        hold_signal((*st)->signal());
    }
    auto now = host::get_regs(tid);
    if (!now) return std::move(now).error();
    done = *now;
    restore();
    // Let go through an interrupt stop (see the header).
    if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) return Error::from_errno("PTRACE_INTERRUPT");
    if (ptrace(PTRACE_CONT, tid, nullptr, nullptr) != 0) return Error::from_errno("PTRACE_CONT");
    while (true) {
        auto st = next_stop();
        if (!st) return std::move(st).error();
        if (!*st) return gone();
        if ((*st)->kind() == WaitStatus::Kind::InterruptStop) return done;
        if ((*st)->kind() == WaitStatus::Kind::SignalStop) hold_signal((*st)->signal());
        // Any other stop drops our interrupt (the kernel clears a pending
        // STOP trap at each trap): ask again.
        if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) return Error::from_errno("PTRACE_INTERRUPT");
        if (ptrace(PTRACE_CONT, tid, nullptr, nullptr) != 0) return Error::from_errno("PTRACE_CONT");
    }
}

} // namespace probed
