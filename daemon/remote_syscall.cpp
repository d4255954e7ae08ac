#include "daemon/remote_syscall.h"

#include "arch/host.h"

namespace probed {

namespace host = arch::host;

Result<RemoteSyscall> RemoteSyscall::begin(ProcessState& proc, ThreadState& thread) {
    auto code = InjectedCode::begin(proc, thread, host::syscall_stub_bytes());
    if (!code) return std::move(code).error();
    return RemoteSyscall(std::move(*code));
}

namespace {

host::Regs call_regs(const InjectedCode& code, long nr, std::initializer_list<uint64_t> args) {
    uint64_t a[6] = {};
    size_t i = 0;
    for (uint64_t v : args) a[i++] = v;
    host::Regs regs = code.saved_regs();
    host::prepare_syscall(regs, code.address(), nr, a);
    return regs;
}

} // namespace

Result<int64_t> RemoteSyscall::call(long nr, std::initializer_list<uint64_t> args) {
    auto done = code_.run(call_regs(code_, nr, args), host::syscall_stub_done_pc(code_.address()));
    if (!done) return std::move(done).error();
    return host::syscall_result(*done);
}

Result<int64_t> RemoteSyscall::last_call_without_trap(long nr, std::initializer_list<uint64_t> args) {
    auto done = code_.run_to_syscall_exit_and_end(call_regs(code_, nr, args));
    if (!done) return std::move(done).error();
    return host::syscall_result(*done);
}

} // namespace probed
