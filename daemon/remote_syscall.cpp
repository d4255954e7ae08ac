#include "daemon/remote_syscall.h"

#include "arch/host.h"

#include <spdlog/spdlog.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include <csignal>

namespace probed {

namespace host = arch::host;

Result<RemoteSyscall> RemoteSyscall::begin(ProcessState& proc, ThreadState& thread) {
    RemoteSyscall rs(proc, thread);
    auto regs = host::get_regs(thread.tid);
    if (!regs) return std::move(regs).error();
    rs.saved_regs_ = *regs;
    auto stub = host::syscall_stub_bytes();
    rs.saved_code_.resize(stub.size());
    PROBED_TRY(proc.mem->read(proc.entry_point, rs.saved_code_));
    PROBED_TRY(proc.mem->write(proc.entry_point, stub));
    rs.active_ = true;
    return rs;
}

RemoteSyscall::RemoteSyscall(RemoteSyscall&& o) noexcept
    : proc_(o.proc_), thread_(o.thread_), saved_regs_(o.saved_regs_),
      saved_code_(std::move(o.saved_code_)), active_(o.active_), lost_(o.lost_) {
    o.active_ = false;
}

RemoteSyscall::~RemoteSyscall() {
    if (!active_ || lost_) return;
    // Failures here mean the process died; nothing left to restore.
    (void)proc_->mem->write(proc_->entry_point, saved_code_);
    (void)host::set_regs(thread_->tid, saved_regs_);
}

Result<int64_t> RemoteSyscall::call(long nr, std::initializer_list<uint64_t> args) {
    if (lost_) return make_error(ErrorKind::ProcessGone, "thread exited during a remote syscall");
    uint64_t a[6] = {};
    size_t i = 0;
    for (uint64_t v : args) a[i++] = v;
    host::Regs regs = saved_regs_;
    host::prepare_syscall(regs, proc_->entry_point, nr, a);
    PROBED_TRY(host::set_regs(thread_->tid, regs));
    pid_t tid = thread_->tid;
    if (ptrace(PTRACE_CONT, tid, nullptr, nullptr) != 0) return Error::from_errno("PTRACE_CONT");
    while (true) {
        int raw = 0;
        if (waitpid(tid, &raw, __WALL) < 0) {
            if (errno == EINTR) continue;
            return Error::from_errno("waitpid");
        }
        WaitStatus st(raw);
        if (st.exited_or_killed()) {
            lost_ = st;
            return make_error(ErrorKind::ProcessGone, "thread exited during a remote syscall");
        }
        if (st.kind() == WaitStatus::Kind::SignalStop && st.signal() == SIGTRAP) {
            auto now = host::get_regs(tid);
            if (!now) return std::move(now).error();
            if (host::pc_of(*now) == host::syscall_stub_done_pc(proc_->entry_point))
                return host::syscall_result(*now);
        }
        if (st.kind() == WaitStatus::Kind::SignalStop) {
            // A signal for the program: keep it and deliver it once we let go.
            if (thread_->held_signal == 0) thread_->held_signal = st.signal();
            else spdlog::warn("tid {}: second signal {} during remote syscall dropped", tid,
                              st.signal());
        } else if (st.kind() == WaitStatus::Kind::EventStop) {
            spdlog::debug("tid {}: event {} during remote syscall", tid, st.event());
        }
        if (ptrace(PTRACE_CONT, tid, nullptr, nullptr) != 0) return Error::from_errno("PTRACE_CONT");
    }
}

} // namespace probed
