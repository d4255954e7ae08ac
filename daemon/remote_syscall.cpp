#include "daemon/remote_syscall.h"

#include "arch/host.h"

namespace probed {

namespace host = arch::host;

Result<RemoteSyscall> RemoteSyscall::begin(ProcessState& proc, ThreadState& thread) {
    auto code = InjectedCode::begin(proc, thread, host::syscall_stub_bytes());
    if (!code) return std::move(code).error();
    return RemoteSyscall(std::move(*code));
}

Result<int64_t> RemoteSyscall::call(long nr, std::initializer_list<uint64_t> args) {
    uint64_t a[6] = {};
    size_t i = 0;
    for (uint64_t v : args) a[i++] = v;
    host::Regs regs = code_.saved_regs();
    host::prepare_syscall(regs, code_.address(), nr, a);
    auto done = code_.run(regs, host::syscall_stub_done_pc(code_.address()));
    if (!done) return std::move(done).error();
    return host::syscall_result(*done);
}

} // namespace probed
