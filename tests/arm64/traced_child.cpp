#include "traced_child.h"

#include <doctest/doctest.h>
#include <elf.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ios>
#include <string>

namespace probed_test::arm64 {

namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// ptrace is variadic: every argument must be passed pointer-sized, or the
// kernel may see garbage in the upper half of a register.
void* arg(uint64_t value) { return reinterpret_cast<void*>(static_cast<uintptr_t>(value)); }

pid_t fork_or_fail() {
    const pid_t pid = fork();
    REQUIRE_MESSAGE(pid >= 0, errno_text("fork"));
    return pid;
}

} // namespace

TracedChild TracedChild::start_traced(const std::function<int()>& body) {
    const pid_t pid = fork_or_fail();
    if (pid == 0) {
        // The child never returns into doctest.
        if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) _exit(125);
        raise(SIGSTOP);
        _exit(body());
    }
    TracedChild child(pid);
    const Stop first = child.wait_stop();
    REQUIRE(first.signal == SIGSTOP);
    // If the test process dies, its children must not linger with our BRKs.
    REQUIRE_MESSAGE(ptrace(PTRACE_SETOPTIONS, pid, nullptr, arg(PTRACE_O_EXITKILL)) == 0,
                    errno_text("PTRACE_SETOPTIONS"));
    return child;
}

TracedChild TracedChild::start_untraced(const std::function<int()>& body) {
    const pid_t pid = fork_or_fail();
    if (pid == 0) _exit(body());
    return TracedChild(pid);
}

TracedChild::TracedChild(TracedChild&& other) noexcept : pid_(other.pid_), reaped_(other.reaped_) {
    other.reaped_ = true;
}

TracedChild::~TracedChild() {
    if (reaped_) return;
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, __WALL) < 0 && errno == EINTR) {}
}

user_pt_regs TracedChild::regs() const {
    user_pt_regs regs{};
    iovec iov{&regs, sizeof regs};
    REQUIRE_MESSAGE(ptrace(PTRACE_GETREGSET, pid_, arg(NT_PRSTATUS), &iov) == 0, errno_text("GETREGSET NT_PRSTATUS"));
    REQUIRE(iov.iov_len == sizeof regs);
    return regs;
}

void TracedChild::set_regs(const user_pt_regs& regs) const {
    user_pt_regs copy = regs;
    iovec iov{&copy, sizeof copy};
    REQUIRE_MESSAGE(ptrace(PTRACE_SETREGSET, pid_, arg(NT_PRSTATUS), &iov) == 0, errno_text("SETREGSET NT_PRSTATUS"));
}

uint64_t TracedChild::read_word(uint64_t addr) const {
    errno = 0;
    const long word = ptrace(PTRACE_PEEKDATA, pid_, arg(addr), nullptr);
    REQUIRE_MESSAGE(errno == 0, errno_text("PTRACE_PEEKDATA"));
    return static_cast<uint64_t>(word);
}

uint32_t TracedChild::read_insn(uint64_t addr) const {
    REQUIRE(addr % 4 == 0);
    const unsigned shift = static_cast<unsigned>(addr - word_address(addr)) * 8; // little endian
    return static_cast<uint32_t>(read_word(word_address(addr)) >> shift);
}

uint32_t TracedChild::write_insn(uint64_t addr, uint32_t insn) const {
    REQUIRE(addr % 4 == 0);
    const uint64_t at = word_address(addr);
    const unsigned shift = static_cast<unsigned>(addr - at) * 8;
    const uint64_t old = read_word(at);
    const uint64_t mask = uint64_t{0xffffffff} << shift;
    const uint64_t updated = (old & ~mask) | (uint64_t{insn} << shift);
    // POKETEXT writes even to pages mapped without PROT_WRITE (FOLL_FORCE),
    // and the kernel keeps the icache coherent for ptrace writes.
    REQUIRE_MESSAGE(ptrace(PTRACE_POKETEXT, pid_, arg(at), arg(updated)) == 0, errno_text("PTRACE_POKETEXT"));
    return static_cast<uint32_t>(old >> shift);
}

void TracedChild::cont(int signal) const {
    REQUIRE_MESSAGE(ptrace(PTRACE_CONT, pid_, nullptr, arg(static_cast<uint64_t>(signal))) == 0, errno_text("PTRACE_CONT"));
}

Stop TracedChild::wait_stop() {
    int status = 0;
    pid_t got;
    while ((got = waitpid(pid_, &status, __WALL)) < 0 && errno == EINTR) {}
    REQUIRE_MESSAGE(got == pid_, errno_text("waitpid"));
    if (!WIFSTOPPED(status)) reaped_ = true;
    REQUIRE_MESSAGE(WIFSTOPPED(status), "child ended instead of stopping, wait status 0x" << std::hex << status);
    Stop stop;
    stop.signal = WSTOPSIG(status);
    stop.event = (status >> 16) & 0xff;
    siginfo_t info{};
    if (stop.event == 0 && ptrace(PTRACE_GETSIGINFO, pid_, nullptr, &info) == 0) stop.si_code = info.si_code;
    return stop;
}

int TracedChild::wait_end() {
    int status = 0;
    pid_t got;
    while ((got = waitpid(pid_, &status, __WALL)) < 0 && errno == EINTR) {}
    REQUIRE_MESSAGE(got == pid_, errno_text("waitpid"));
    REQUIRE_MESSAGE(!WIFSTOPPED(status), "child stopped (signal " << WSTOPSIG(status) << ") instead of ending");
    reaped_ = true;
    return status;
}

} // namespace probed_test::arm64
