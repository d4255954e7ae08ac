// The arm64 backend against the CPU it models (aarch64 hosts only): each
// simulated instruction is single-stepped for real in a traced child and the
// registers and memory it leaves must equal what the simulator computed; the
// slot code, our brk, the syscall stub, the signing stub and the ptrace glue
// run for real too.
// Code is written with PTRACE_POKEDATA over the same words again and again,
// which also confirms the kernel keeps the icache coherent for ptrace writes.
#include "arch/arm64/arm64_machine.h"
#include "arch/arm64/arm64_ptrace.h"
#include "arch/arm64/arm64_return_signing.h"
#include "arch/arm64/arm64_simulator.h"
#include "arch/arm64/arm64_slot_builder.h"
#include "arm64_test_words.h"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace probed;
using namespace probed::arch;
using namespace probed::arch::arm64;
using arm64_test::must_decode;
using arm64_test::to_bytes;

namespace {

constexpr size_t kPage = 4096;
constexpr uint64_t kCodeOff = 0x800;  // the instruction under test
constexpr uint64_t kSlotOff = 0x400;  // a slot for the slot-code tests
constexpr uint64_t kStackOff = 0xf00; // sp for stp

// A child stopped under ptrace, sharing one RWX page with us.
class TracedChild {
  public:
    TracedChild() {
        void* p = mmap(nullptr, kPage, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        REQUIRE(p != MAP_FAILED);
        page_ = static_cast<uint8_t*>(p);
        pid_ = fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
            raise(SIGSTOP);
            for (;;)
                pause();
        }
        int status = 0;
        REQUIRE(waitpid(pid_, &status, 0) == pid_);
        REQUIRE(WIFSTOPPED(status));
    }
    ~TracedChild() {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        munmap(page_, kPage);
    }
    uint64_t base() const { return reinterpret_cast<uint64_t>(page_); }
    uint8_t* page() { return page_; }
    pid_t pid() const { return pid_; }

    // Through ptrace, like the engine writes code.
    void poke_code(uint64_t off, const std::vector<uint8_t>& code) {
        for (size_t i = 0; i < code.size(); i += 4) {
            uint64_t word = 0;
            std::memcpy(&word, page_ + ((off + i) & ~7ull), 8);
            const unsigned shift = ((off + i) & 4) ? 32 : 0;
            uint32_t w;
            std::memcpy(&w, code.data() + i, 4);
            word = (word & ~(0xffffffffull << shift)) | (uint64_t{w} << shift);
            REQUIRE(ptrace(PTRACE_POKEDATA, pid_, base() + ((off + i) & ~7ull), word) == 0);
        }
    }

    // Resumes with `request` and returns the stop signal.
    int run_to_signal(__ptrace_request request) {
        REQUIRE(ptrace(request, pid_, nullptr, nullptr) == 0);
        int status = 0;
        REQUIRE(waitpid(pid_, &status, 0) == pid_);
        REQUIRE(WIFSTOPPED(status));
        return WSTOPSIG(status);
    }

    // Resumes with `request` and returns the SIGTRAP's si_code.
    int run(__ptrace_request request) {
        REQUIRE(run_to_signal(request) == SIGTRAP);
        siginfo_t si{};
        REQUIRE(ptrace(PTRACE_GETSIGINFO, pid_, nullptr, &si) == 0);
        return si.si_code;
    }

  private:
    uint8_t* page_ = nullptr;
    pid_t pid_ = -1;
};

Regs random_regs(uint64_t seed) {
    Regs r{};
    for (unsigned i = 0; i < 31; ++i) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        r.x[i] = seed;
    }
    return r;
}

constexpr uint64_t kCompared = kFlagN | kFlagZ | kFlagC | kFlagV | kBtypeMask;

// Steps `word` at base+kCodeOff from `start` and compares with the simulator.
void check_against_cpu(TracedChild& child, uint32_t word, Regs start) {
    const uint64_t addr = child.base() + kCodeOff;
    DecodedInsn d = must_decode(word, addr);
    INFO(d.text, " nzcv/btype ", (start.pstate & kCompared));
    REQUIRE(d.strategy == Strategy::Simulate);
    child.poke_code(kCodeOff, to_bytes({word}));
    start.pc = addr;
    start.sp = child.base() + kStackOff;
    Result<Regs> current = get_regs(child.pid());
    REQUIRE(current.ok());
    start.pstate = (current->pstate & ~kCompared) | (start.pstate & kCompared);
    REQUIRE(set_regs(child.pid(), start).ok());
    Result<Regs> before = get_regs(child.pid()); // what the kernel accepted
    REQUIRE(before.ok());
    std::memset(child.page() + kStackOff - 64, 0x5a, 64);

    Regs sim = *before;
    const MemoryReader read = [&](uint64_t a, unsigned size) -> Result<uint64_t> {
        uint64_t v = 0;
        std::memcpy(&v, reinterpret_cast<const void*>(a), size);
        return v;
    };
    SimResult r = simulate(d, sim, read);
    REQUIRE(r.fault_signal == 0);

    CHECK(child.run(PTRACE_SINGLESTEP) == TRAP_TRACE);
    Result<Regs> after = get_regs(child.pid());
    REQUIRE(after.ok());
    for (unsigned i = 0; i < 31; ++i)
        CHECK_MESSAGE(after->x[i] == sim.x[i], "x", i);
    CHECK(after->sp == sim.sp);
    CHECK(after->pc == sim.pc);
    CHECK((after->pstate & kCompared) == (sim.pstate & kCompared));
    for (const MemoryWrite& w : r.pending_writes()) {
        uint64_t v = 0;
        std::memcpy(&v, reinterpret_cast<const void*>(w.address), 8);
        CHECK(v == w.value);
    }
}

// A child with the signing stub in its slot and its registers to start
// runs from (BTYPE cleared: the stub and the code are reached by setting
// the PC, not by a branch): what the signing stub's tests share.
struct SigningRun {
    TracedChild child;
    uint64_t fn = 0;   // where a test's own code goes
    uint64_t stub = 0; // the signing stub
    uint64_t trampoline = 0;
    uint64_t mask = 0; // the PAC code bits (0 without FEAT_PAuth)
    Regs initial{};

    SigningRun() {
        fn = child.base() + kCodeOff;
        stub = child.base() + kSlotOff;
        trampoline = child.base() + 0x600;
        child.poke_code(kSlotOff, sign_stub_bytes());
        Result<uint64_t> m = get_pac_code_mask(child.pid());
        REQUIRE(m.ok());
        mask = *m;
        Result<Regs> regs = get_regs(child.pid());
        REQUIRE(regs.ok());
        initial = *regs;
        initial.pstate &= ~kBtypeMask;
    }
};

} // namespace

TEST_CASE("every simulated class agrees with the CPU") {
    TracedChild child;
    for (size_t i = 0; i < kPage; ++i)
        child.page()[i] = static_cast<uint8_t>(i * 37 + 11);
    const uint32_t words[] = {
        0xd503201f, // nop
        0xd503245f, // bti c
        0xd8000400, // prfm pldl1keep, .+0x80
        0x14000010, // b .+0x40
        0x97fffc00, // bl .-0x1000
        0x34000803, // cbz w3, .+0x100
        0xb5ffffc4, // cbnz x4, .-0x8
        0xb400005f, // cbz xzr, .+8
        0xb6080083, // tbz x3, #33, .+0x10
        0x373fff05, // tbnz w5, #7, .-0x20
        0xb7fc001e, // tbnz x30, #63, .-0x8000
        0x100091a1, // adr x1, .+0x1234
        0x10ffff82, // adr x2, .-0x10
        0xb0000020, // adrp x0, +5 pages
        0xb0ffffe9, // adrp x9, -3 pages
        0x18000206, // ldr w6, .+0x40
        0x58fffe07, // ldr x7, .-0x40
        0x98002008, // ldrsw x8, .+0x400
        0xd61f0200, // br x16
        0xd63f0020, // blr x1
        0xd63f03c0, // blr x30
        0xd65f03c0, // ret
        0xd65f0040, // ret x2
        0xa9bd7bfd, // stp x29, x30, [sp, #-48]!
        0x910003fd, // mov x29, sp
    };
    uint64_t seed = 1;
    for (uint32_t w : words) {
        for (int variant = 0; variant < 4; ++variant) {
            Regs start = random_regs(seed++);
            if (variant & 1) { // registers the branches test: zero, bits clear
                start.x[3] = 0xffffffff00000000ull;
                start.x[4] = 0;
                start.x[5] = 0x80;
                start.x[30] = 1ull << 63;
            }
            start.pstate = (variant & 2) ? (kBtypeCall << kBtypeShift) : 0;
            check_against_cpu(child, w, start);
        }
    }
    for (uint32_t cond = 0; cond < 16; ++cond) {
        for (uint64_t nzcv = 0; nzcv < 16; ++nzcv) {
            Regs start = random_regs(seed++);
            start.pstate = nzcv << 28;
            check_against_cpu(child, 0x54000100 | cond, start); // b.<cond> .+0x20
        }
    }
}

TEST_CASE("slots, our brk, the syscall stub and d0 on the CPU") {
    TracedChild child;
    const uint64_t code = child.base() + kCodeOff;
    const uint64_t slot = child.base() + kSlotOff;
    DecodedInsn add = must_decode(0x8b020020, code); // add x0, x1, x2
    REQUIRE(add.strategy == Strategy::Boosted);

    SUBCASE("boosted slot runs the copy and branches back") {
        child.poke_code(kCodeOff + 4, breakpoint_bytes());
        Result<std::vector<uint8_t>> s = build_boosted_slot(add, slot);
        REQUIRE(s.ok());
        child.poke_code(kSlotOff, *s);
        Result<Regs> regs = get_regs(child.pid());
        REQUIRE(regs.ok());
        regs->x[1] = 40;
        regs->x[2] = 2;
        regs->pc = slot;
        REQUIRE(set_regs(child.pid(), *regs).ok());
        CHECK(child.run(PTRACE_CONT) == TRAP_BRKPT);
        Result<Regs> after = get_regs(child.pid());
        REQUIRE(after.ok());
        CHECK(breakpoint_address_from_pc(after->pc) == code + 4);
        CHECK(after->x[0] == 42);
    }
    SUBCASE("stepped slot plus fixup lands after the original") {
        Result<std::vector<uint8_t>> s = build_stepped_slot(add, slot);
        REQUIRE(s.ok());
        child.poke_code(kSlotOff, *s);
        Result<Regs> regs = get_regs(child.pid());
        REQUIRE(regs.ok());
        regs->x[1] = 7;
        regs->x[2] = 8;
        regs->pc = slot;
        REQUIRE(set_regs(child.pid(), *regs).ok());
        CHECK(child.run(PTRACE_SINGLESTEP) == TRAP_TRACE);
        Result<Regs> after = get_regs(child.pid());
        REQUIRE(after.ok());
        const Regs stepped = *after;
        fixup_after_step(add, slot, *after);
        CHECK(after->pc == code + 4);
        CHECK(after->x[0] == 15);
        REQUIRE(set_changed_regs(child.pid(), stepped, *after).ok());
        REQUIRE(set_pc(child.pid(), after->pc).ok());
        Result<Regs> again = get_regs(child.pid());
        REQUIRE(again.ok());
        CHECK(again->pc == code + 4);
    }
    SUBCASE("remote getpid through the syscall stub") {
        child.poke_code(kCodeOff, syscall_stub_bytes());
        Result<Regs> regs = get_regs(child.pid());
        REQUIRE(regs.ok());
        const uint64_t args[6] = {};
        prepare_syscall(*regs, code, 172 /* __NR_getpid */, args);
        REQUIRE(set_regs(child.pid(), *regs).ok());
        CHECK(child.run(PTRACE_CONT) == TRAP_BRKPT);
        Result<Regs> after = get_regs(child.pid());
        REQUIRE(after.ok());
        CHECK(after->pc == syscall_stub_done_pc(code));
        CHECK(syscall_result(*after) == child.pid());
    }
    SUBCASE("d0 after fmov") {
        child.poke_code(kCodeOff, to_bytes({0x1e615000})); // fmov d0, #3.25
        Result<Regs> regs = get_regs(child.pid());
        REQUIRE(regs.ok());
        regs->pc = code;
        REQUIRE(set_regs(child.pid(), *regs).ok());
        CHECK(child.run(PTRACE_SINGLESTEP) == TRAP_TRACE);
        Result<double> d0 = get_float_return(child.pid());
        REQUIRE(d0.ok());
        CHECK(*d0 == 3.25);
        CHECK(get_pac_code_mask(child.pid()).ok());
    }
}

TEST_CASE("pointer authentication: x30 hijacked before paciasp returns to the trampoline") {
    // The function: paciasp; autiasp; ret. The probe hit at its first
    // instruction sets x30 to the trampoline (our brk), then paciasp runs
    // boosted from a slot and signs the trampoline address.
    TracedChild child;
    const uint64_t fn = child.base() + kCodeOff;
    const uint64_t slot = child.base() + kSlotOff;
    const uint64_t trampoline = child.base() + 0x600;
    child.poke_code(kCodeOff, to_bytes({
                                  0xd503233f, // paciasp
                                  0xd50323bf, // autiasp
                                  0xd65f03c0, // ret
                              }));
    child.poke_code(0x600, trampoline_bytes());
    DecodedInsn pac = must_decode(0xd503233f, fn); // paciasp
    REQUIRE(pac.strategy == Strategy::Boosted);
    Result<std::vector<uint8_t>> s = build_boosted_slot(pac, slot);
    REQUIRE(s.ok());
    child.poke_code(kSlotOff, *s);
    Result<uint64_t> mask = get_pac_code_mask(child.pid());
    REQUIRE(mask.ok());
    char mask_text[64];
    std::snprintf(mask_text, sizeof mask_text, "PAC code mask %#llx%s",
                  static_cast<unsigned long long>(*mask), *mask ? " (PAC on)" : " (no PAC)");
    MESSAGE(std::string(mask_text));

    Result<Regs> regs = get_regs(child.pid());
    REQUIRE(regs.ok());
    regs->sp = child.base() + kStackOff;
    set_return_address(*regs, trampoline); // the hijack, before paciasp
    regs->pc = slot;
    REQUIRE(set_regs(child.pid(), *regs).ok());
    CHECK(child.run(PTRACE_CONT) == TRAP_BRKPT);
    Result<Regs> at = get_regs(child.pid());
    REQUIRE(at.ok());
    CHECK(breakpoint_address_from_pc(at->pc) == trampoline);
    CHECK(entry_sp_from_return_sp(at->sp) == child.base() + kStackOff);

    if (*mask != 0) {
        // The converse: hijacking after paciasp ran leaves an unsigned x30
        // for autiasp, which corrupts it (or faults, with FEAT_FPAC).
        regs->pc = fn;
        regs->x[30] = trampoline + 0x40;
        REQUIRE(set_regs(child.pid(), *regs).ok());
        CHECK(child.run(PTRACE_SINGLESTEP) == TRAP_TRACE); // paciasp signs
        Result<Regs> signed_regs = get_regs(child.pid());
        REQUIRE(signed_regs.ok());
        CHECK(signed_regs->x[30] != trampoline + 0x40);
        signed_regs->x[30] = trampoline; // a late hijack
        REQUIRE(set_regs(child.pid(), *signed_regs).ok());
        CHECK(child.run_to_signal(PTRACE_CONT) != SIGTRAP);
    }
}

TEST_CASE("pointer authentication: the signing stub signs as the prologue does") {
    // What the engine relies on for the unwinder (arm64_return_signing.h):
    // the stub, with x16 = the entry sp, signs a return address exactly as
    // paciasp/pacibsp at the function's first instruction would, and
    // libgcc's check (autia1716/autib1716 with the CFA, the entry sp) gives
    // the plain address back.
    SigningRun run;
    TracedChild& child = run.child;
    const uint64_t fn = run.fn, stub = run.stub, trampoline = run.trampoline, mask = run.mask;
    const Regs& initial = run.initial;
    const uint64_t entry_sp = child.base() + kStackOff;
    const uint64_t ret = child.base() + 0x48c; // some return address

    // Runs `code` at fn from `regs` (sp = entry_sp) to its brk.
    auto run_at_fn = [&](std::initializer_list<uint32_t> code, Regs regs) {
        child.poke_code(kCodeOff, to_bytes(code));
        regs.pc = fn;
        regs.sp = entry_sp;
        REQUIRE(set_regs(child.pid(), regs).ok());
        CHECK(child.run(PTRACE_CONT) == TRAP_BRKPT);
        Result<Regs> after = get_regs(child.pid());
        REQUIRE(after.ok());
        return *after;
    };
    std::vector<SignedPair> by_key;
    for (PacKey key : {PacKey::A, PacKey::B}) {
        CAPTURE(key == PacKey::A ? "A" : "B");
        const uint32_t prologue = key == PacKey::A ? 0xd503233f  // paciasp
                                                   : 0xd503237f; // pacibsp
        Regs regs = initial;
        regs.x[30] = ret;
        const uint64_t prologue_ret = run_at_fn({prologue, kBreakpointWord}, regs).x[30];
        regs.x[30] = trampoline;
        const uint64_t prologue_trampoline = run_at_fn({prologue, kBreakpointWord}, regs).x[30];

        // One value per run, in registers.
        auto sign_one = [&](uint64_t value) {
            Regs s = initial;
            prepare_sign_one(s, stub, key, {entry_sp, value});
            REQUIRE(set_regs(child.pid(), s).ok());
            CHECK(child.run(PTRACE_CONT) == TRAP_BRKPT);
            Result<Regs> done = get_regs(child.pid());
            REQUIRE(done.ok());
            CHECK(done->pc == sign_stub_done_pc(stub));
            return signed_one(*done);
        };
        const SignedPair pair{sign_one(ret), sign_one(trampoline)};
        CHECK(pair.value == prologue_ret);
        CHECK(pair.check == prologue_trampoline);
        if (mask != 0) {
            CHECK(pair.value != ret);
            CHECK((pair.value & ~mask) == ret);
        } else {
            CHECK(pair.value == ret); // hint-space: nops without FEAT_PAuth
        }

        const uint32_t check = key == PacKey::A ? 0xd503219f  // autia1716
                                                : 0xd50321df; // autib1716
        regs = initial;
        regs.x[17] = pair.value;
        regs.x[16] = entry_sp;
        CHECK(run_at_fn({check, kBreakpointWord}, regs).x[17] == ret);
        by_key.push_back(pair);
    }
    if (mask != 0) CHECK(by_key[0].value != by_key[1].value); // the keys differ
}

TEST_CASE("pointer authentication: one run over a table signs as a run per value does") {
    // The batched signing (arm64_return_signing.h): frames with their own
    // entry sps, a table of {modifier, value} pairs below the thread's sp,
    // one run per key. Each value must come out as the single-value run and
    // the function's own prologue sign it, and nothing but the table's
    // values may be written.
    SigningRun run;
    TracedChild& child = run.child;
    const uint64_t fn = run.fn, stub = run.stub, trampoline = run.trampoline, mask = run.mask;
    // The table goes below, above the stub; the pattern around it ends
    // below the code.
    run.initial.sp = child.base() + kCodeOff - 0x40;
    const Regs& initial = run.initial;

    constexpr size_t kFrames = 10;
    std::vector<PacSignInput> inputs; // {entry sp, return address}, {entry sp, trampoline}
    for (size_t i = 0; i < kFrames; ++i) {
        const uint64_t entry_sp = child.base() + kStackOff - 0x20 * i;
        inputs.push_back({entry_sp, child.base() + 0x48c + 8 * i});
        inputs.push_back({entry_sp, trampoline});
    }
    const uint64_t table = sign_table_address(initial, inputs.size());
    REQUIRE(table >= stub + sign_stub_bytes().size());
    const size_t table_off = table - child.base();
    const size_t table_bytes = inputs.size() * kSignPairBytes;

    for (PacKey key : {PacKey::A, PacKey::B}) {
        CAPTURE(key == PacKey::A ? "A" : "B");
        // A run per value, in registers.
        std::vector<uint64_t> single;
        for (const PacSignInput& in : inputs) {
            Regs s = initial;
            prepare_sign_one(s, stub, key, in);
            REQUIRE(set_regs(child.pid(), s).ok());
            CHECK(child.run(PTRACE_CONT) == TRAP_BRKPT);
            Result<Regs> done = get_regs(child.pid());
            REQUIRE(done.ok());
            single.push_back(signed_one(*done));
        }

        // One run over the table; the bytes around it hold a pattern.
        std::memset(child.page() + table_off - 0x40, 0xa5, table_bytes + 0x80);
        const std::vector<uint8_t> bytes = sign_table_bytes(inputs);
        std::memcpy(child.page() + table_off, bytes.data(), bytes.size());
        Regs s = initial;
        prepare_sign_table(s, stub, key, table, inputs.size());
        REQUIRE(set_regs(child.pid(), s).ok());
        CHECK(child.run(PTRACE_CONT) == TRAP_BRKPT);
        Result<Regs> done = get_regs(child.pid());
        REQUIRE(done.ok());
        CHECK(done->pc == sign_stub_done_pc(stub));
        CHECK(done->sp == initial.sp);
        const std::vector<uint8_t> after(child.page() + table_off,
                                         child.page() + table_off + table_bytes);
        const std::vector<uint64_t> batched = signed_table_values(after);
        CHECK(batched == single);
        for (size_t k = 0; k < inputs.size(); ++k) {
            CAPTURE(k);
            // The modifiers stay as they were.
            CHECK(std::memcmp(after.data() + k * kSignPairBytes,
                              bytes.data() + k * kSignPairBytes, 8) == 0);
            if (mask != 0) CHECK((batched[k] & ~mask) == inputs[k].value);
            else CHECK(batched[k] == inputs[k].value); // hint-space: nops without FEAT_PAuth
        }
        for (size_t off = 0; off < 0x40; ++off) {
            CHECK(child.page()[table_off - 0x40 + off] == 0xa5);
            CHECK(child.page()[table_off + table_bytes + off] == 0xa5);
        }

        // And as the function's own prologue signs them, at its entry sp.
        const uint32_t prologue = key == PacKey::A ? 0xd503233f  // paciasp
                                                   : 0xd503237f; // pacibsp
        child.poke_code(kCodeOff, to_bytes({prologue, kBreakpointWord}));
        for (size_t k = 0; k < inputs.size(); ++k) {
            CAPTURE(k);
            Regs regs = initial;
            regs.x[30] = inputs[k].value;
            regs.pc = fn;
            regs.sp = inputs[k].modifier;
            REQUIRE(set_regs(child.pid(), regs).ok());
            CHECK(child.run(PTRACE_CONT) == TRAP_BRKPT);
            Result<Regs> after_prologue = get_regs(child.pid());
            REQUIRE(after_prologue.ok());
            CHECK(after_prologue->x[30] == batched[k]);
        }
    }
}
