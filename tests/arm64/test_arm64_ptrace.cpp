// What probed's arm64 backend takes for granted about ptrace and the CPU,
// checked on a real arm64 kernel (in CI: Debian's, under qemu-system-aarch64,
// see tests/arm64/run): a BRK of our own stops at its own address with
// TRAP_BRKPT, registers travel through NT_PRSTATUS, a remote `svc #0` maps a
// slot page near the code, a displaced instruction runs out of line in that
// slot followed by a `B` back, a slot rewritten through ptrace runs its new
// instruction (icache coherence is the kernel's job for ptrace writes), x30
// redirected to a BRK trampoline gives the return value in x0, and
// PTRACE_SEIZE + PTRACE_INTERRUPT stop a running process.
#include "arm64_check_encoding.h"
#include "traced_child.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <ios>

extern "C" long check_add_then_double(long x);
extern "C" void check_foreign_brk();

namespace probed_test::arm64 {
namespace {

constexpr uint32_t kOurBrk = brk(kCheckBrkImmediate);
constexpr uint64_t kPage = 4096;

// Results the child stores for the tracer to read with PEEKDATA: fork keeps
// the addresses.
volatile long child_results[2];

uint64_t address_of(long (*fn)(long)) { return reinterpret_cast<uint64_t>(fn); }
uint64_t address_of(void (*fn)()) { return reinterpret_cast<uint64_t>(fn); }

// The child is stopped at our BRK at `at`; asserts everything the backend
// uses to recognise its own trap.
void check_our_brk_stop(TracedChild& child, const Stop& stop, uint64_t at) {
    REQUIRE(stop.signal == SIGTRAP);
    CHECK(stop.si_code == TRAP_BRKPT);
    const user_pt_regs regs = child.regs();
    // Unlike x86's int3, BRK does not advance the PC.
    CHECK(regs.pc == at);
    CHECK(child.read_insn(regs.pc) == kOurBrk);
}

// Runs system call `nr` in the stopped child: `svc #0; brk` written over
// the two instructions at `stub`, x8 = nr, x0-x5 = args; then puts the code
// and the registers back. Returns x0.
uint64_t remote_syscall(TracedChild& child, uint64_t stub, long nr, const std::array<uint64_t, 6>& args) {
    const user_pt_regs saved = child.regs();
    const uint32_t old0 = child.write_insn(stub, kSvc0);
    const uint32_t old1 = child.write_insn(stub + 4, kOurBrk);
    user_pt_regs regs = saved;
    for (size_t i = 0; i < args.size(); ++i) regs.regs[i] = args[i];
    regs.regs[8] = static_cast<uint64_t>(nr);
    regs.pc = stub;
    child.set_regs(regs);
    child.cont();
    const Stop stop = child.wait_stop();
    check_our_brk_stop(child, stop, stub + 4);
    const uint64_t result = child.regs().regs[0];
    child.write_insn(stub, old0);
    child.write_insn(stub + 4, old1);
    child.set_regs(saved);
    return result;
}

// Maps an r-x page in the child within B range of `code` (16 MiB below it:
// nothing is mapped under a PIE executable), as the backend's slot pages are.
uint64_t map_slot_page_near(TracedChild& child, uint64_t stub, uint64_t code) {
    const uint64_t hint = (code & ~(kPage - 1)) - (uint64_t{16} << 20);
    const uint64_t page = remote_syscall(child, stub, SYS_mmap,
        {hint, kPage, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, static_cast<uint64_t>(-1), 0});
    REQUIRE_MESSAGE(page < static_cast<uint64_t>(-4095), "remote mmap failed, errno " << -static_cast<int64_t>(page));
    REQUIRE(page % kPage == 0);
    REQUIRE_MESSAGE(b_reaches(page, code + 4), "slot page 0x" << std::hex << page << " out of B range of 0x" << code);
    return page;
}

// Slot = the displaced instruction, then `B entry+4`.
void write_slot(TracedChild& child, uint64_t slot, uint32_t displaced, uint64_t entry) {
    child.write_insn(slot, displaced);
    child.write_insn(slot + 4, b(slot + 4, entry + 4));
}

} // namespace

TEST_CASE("the check functions start with the instructions the checks rely on") {
    const auto* add_then_double = reinterpret_cast<const uint32_t*>(address_of(check_add_then_double));
    const auto* foreign_brk = reinterpret_cast<const uint32_t*>(address_of(check_foreign_brk));
    CHECK(add_then_double[0] == kAddX0X0Imm7);
    CHECK(foreign_brk[0] == brk(kGccTrapImmediate));
    CHECK(check_add_then_double(20) == 54);
}

TEST_CASE("our BRK stops the tracee at the BRK itself, TRAP_BRKPT, arguments in NT_PRSTATUS") {
    long (*volatile fn)(long) = check_add_then_double;
    TracedChild child = TracedChild::start_traced([fn] { return fn(20) == 54 ? 0 : 1; });
    const uint64_t entry = address_of(check_add_then_double);

    const uint32_t displaced = child.write_insn(entry, kOurBrk);
    CHECK(displaced == kAddX0X0Imm7);
    child.cont();
    const Stop stop = child.wait_stop();
    check_our_brk_stop(child, stop, entry);
    const user_pt_regs regs = child.regs();
    CHECK(regs.regs[0] == 20);
    CHECK(regs.regs[30] != 0); // the return address: the caller's next instruction
    CHECK(regs.sp % 16 == 0);

    // Put the instruction back and let it run: the program sees nothing.
    child.write_insn(entry, displaced);
    child.cont();
    const int status = child.wait_end();
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a BRK that is not ours is told apart by its immediate and reaches the program") {
    void (*volatile fn)() = check_foreign_brk;
    TracedChild child = TracedChild::start_traced([fn] { fn(); return 0; });
    child.cont();
    const Stop stop = child.wait_stop();
    REQUIRE(stop.signal == SIGTRAP);
    CHECK(stop.si_code == TRAP_BRKPT); // same si_code as ours: only the word at PC differs
    const user_pt_regs regs = child.regs();
    CHECK(regs.pc == address_of(check_foreign_brk));
    const uint32_t insn = child.read_insn(regs.pc);
    CHECK(is_brk(insn));
    CHECK(brk_immediate(insn) == kGccTrapImmediate);
    CHECK(brk_immediate(insn) != kCheckBrkImmediate);

    // Handing the SIGTRAP on does what it does untraced: it kills the program.
    child.cont(SIGTRAP);
    const int status = child.wait_end();
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGTRAP);
}

TEST_CASE("displaced instruction runs out of line in a remote-mmapped slot with a B back; a rewritten slot runs anew") {
    long (*volatile fn)(long) = check_add_then_double;
    TracedChild child = TracedChild::start_traced([fn] {
        child_results[0] = fn(5);
        child_results[1] = fn(5);
        raise(SIGSTOP); // lets the tracer read the results
        return 0;
    });
    const uint64_t entry = address_of(check_add_then_double);
    const uint32_t displaced = child.write_insn(entry, kOurBrk);
    REQUIRE(displaced == kAddX0X0Imm7);

    child.cont();
    check_our_brk_stop(child, child.wait_stop(), entry);
    const uint64_t slot = map_slot_page_near(child, entry, entry);
    write_slot(child, slot, displaced, entry);
    user_pt_regs regs = child.regs();
    regs.pc = slot;
    child.set_regs(regs);
    child.cont(); // no single-step: the B brings it back

    // Second call: the same slot, rewritten to `add x0, x0, #9`. Executing
    // the stale instruction would give 24 again instead of 28.
    check_our_brk_stop(child, child.wait_stop(), entry);
    CHECK(child.write_insn(slot, kAddX0X0Imm9) == displaced);
    regs = child.regs();
    CHECK(regs.regs[0] == 5);
    regs.pc = slot;
    child.set_regs(regs);
    child.cont();

    const Stop stop = child.wait_stop();
    REQUIRE(stop.signal == SIGSTOP);
    CHECK(static_cast<long>(child.read_word(reinterpret_cast<uint64_t>(&child_results[0]))) == (5 + 7) * 2);
    CHECK(static_cast<long>(child.read_word(reinterpret_cast<uint64_t>(&child_results[1]))) == (5 + 9) * 2);
}

TEST_CASE("x30 redirected to a BRK trampoline: the return value in x0, then the true return") {
    long (*volatile fn)(long) = check_add_then_double;
    TracedChild child = TracedChild::start_traced([fn] { return fn(20) == 54 ? 0 : 1; });
    const uint64_t entry = address_of(check_add_then_double);
    const uint32_t displaced = child.write_insn(entry, kOurBrk);

    child.cont();
    check_our_brk_stop(child, child.wait_stop(), entry);
    const uint64_t page = map_slot_page_near(child, entry, entry);
    const uint64_t slot = page;
    const uint64_t trampoline = page + 64;
    write_slot(child, slot, displaced, entry);
    child.write_insn(trampoline, kOurBrk);

    user_pt_regs regs = child.regs();
    const uint64_t true_return = regs.regs[30];
    const uint64_t entry_sp = regs.sp;
    regs.regs[30] = trampoline;
    regs.pc = slot;
    child.set_regs(regs);
    child.cont();

    check_our_brk_stop(child, child.wait_stop(), trampoline);
    regs = child.regs();
    CHECK(regs.regs[0] == 54);
    // RET does not touch sp: the entry's sp identifies the call on return.
    CHECK(regs.sp == entry_sp);
    regs.pc = true_return;
    child.set_regs(regs);
    child.write_insn(entry, displaced);
    child.cont();

    const int status = child.wait_end();
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0); // the program saw the right result
}

TEST_CASE("PTRACE_SEIZE + PTRACE_INTERRUPT stop a running process; NT_PRSTATUS reads it") {
    int ready[2];
    REQUIRE(pipe(ready) == 0);
    TracedChild child = TracedChild::start_untraced([&ready] {
        close(ready[0]);
        child_results[0] = 1; // so the tracer can tell it read the right word
        const char byte = 1;
        if (write(ready[1], &byte, 1) != 1) return 1;
        for (;;) child_results[0] = child_results[0] + 1;
    });
    close(ready[1]);
    char byte = 0;
    REQUIRE(read(ready[0], &byte, 1) == 1); // the child is running its loop
    close(ready[0]);

    REQUIRE(ptrace(PTRACE_SEIZE, child.pid(), nullptr, reinterpret_cast<void*>(uintptr_t{PTRACE_O_EXITKILL})) == 0);
    REQUIRE(ptrace(PTRACE_INTERRUPT, child.pid(), nullptr, nullptr) == 0);
    const Stop stop = child.wait_stop();
    CHECK(stop.event == PTRACE_EVENT_STOP);
    const user_pt_regs regs = child.regs();
    CHECK(regs.pc % 4 == 0);
    CHECK(regs.pc != 0);
    const uint64_t count = child.read_word(reinterpret_cast<uint64_t>(&child_results[0]));
    CHECK(count >= 1);

    REQUIRE(ptrace(PTRACE_DETACH, child.pid(), nullptr, nullptr) == 0);
    kill(child.pid(), SIGKILL);
    const int status = child.wait_end();
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
}

} // namespace probed_test::arm64
