#include "arch/arm64/arm64_system_policy.h"

#include "arch/arm64/arm64_encoding.h"

#include <cstdio>
#include <iterator>

namespace probed::arch::arm64 {

namespace {

SystemVerdict boosted(std::string name) {
    return {Strategy::Boosted, SimOp::None, std::move(name), {}};
}
SystemVerdict simulated_nop(std::string name) {
    return {Strategy::Simulate, SimOp::Nop, std::move(name), {}};
}
SystemVerdict rejected(std::string name, std::string why) {
    return {Strategy::Reject, SimOp::None, std::move(name), std::move(why)};
}

const char* hint_name(uint32_t n) {
    switch (n) {
    case 0:
        return "nop";
    case 1:
        return "yield";
    case 2:
        return "wfe";
    case 3:
        return "wfi";
    case 4:
        return "sev";
    case 5:
        return "sevl";
    case 6:
        return "dgh";
    case 7:
        return "xpaclri";
    case 8:
        return "pacia1716";
    case 10:
        return "pacib1716";
    case 12:
        return "autia1716";
    case 14:
        return "autib1716";
    case 16:
        return "esb";
    case 17:
        return "psb csync";
    case 18:
        return "tsb csync";
    case 20:
        return "csdb";
    case 22:
        return "clrbhb";
    case 24:
        return "paciaz";
    case 25:
        return "paciasp";
    case 26:
        return "pacibz";
    case 27:
        return "pacibsp";
    case 28:
        return "autiaz";
    case 29:
        return "autiasp";
    case 30:
        return "autibz";
    case 31:
        return "autibsp";
    case 32:
        return "bti";
    case 34:
        return "bti c";
    case 36:
        return "bti j";
    case 38:
        return "bti jc";
    case 40:
        return "chkfeat x16";
    }
    return nullptr;
}

SystemVerdict classify_hint(uint32_t word) {
    const uint32_t n = hint_number(word);
    const char* known = hint_name(n);
    char generic[16];
    std::snprintf(generic, sizeof generic, "hint #%#x", n);
    std::string name = known ? known : generic;

    // nop and the BTI landing pads change nothing but the PC (and BTYPE,
    // which the simulator resets as the CPU would).
    if (n == 0 || (n >= 32 && n <= 38 && n % 2 == 0))
        return simulated_nop(std::move(name));
    // Everything else runs from a slot. PACIASP & co (hints 7-14, 24-31)
    // sign or authenticate x30/x17 with sp/x16/zero as the modifier, using a
    // key only the CPU holds: they cannot be simulated, and as they never
    // read the PC they run in a slot unchanged (a CPU without FEAT_PAuth
    // executes them as nop, there as here). yield/wfe/sev/esb/csdb/... and
    // the unallocated hints (which execute as nop) have no PC dependence
    // either.
    return boosted(std::move(name));
}

// msr <pstatefield>, #imm
SystemVerdict classify_pstate_write(uint32_t word) {
    const uint32_t op1 = field(word, 18, 16);
    const uint32_t op2 = field(word, 7, 5);
    if (op1 == 3) {
        switch (op2) {
        case 1:
            return boosted("msr ssbs, #imm");
        case 2:
            return boosted("msr dit, #imm");
        case 3:
            return boosted("msr svcr, #imm (smstart/smstop)");
        case 4:
            return boosted("msr tco, #imm");
        case 6:
        case 7:
            return rejected(op2 == 6 ? "msr daifset, #imm" : "msr daifclr, #imm",
                            "writes DAIF, the exception mask the breakpoint and single-step "
                            "path owns (EL0 access needs SCTLR_EL1.UMA, which Linux never sets)");
        }
    }
    return rejected("msr <pstate field>, #imm",
                    "writes a privileged PSTATE field (SPSel/PAN/UAO/...): undefined at EL0");
}

struct NamedSysreg {
    uint32_t encoding;
    const char* name;
    bool writable; // MSR allowed at EL0
};

// The system registers Linux lets EL0 use. None of them depends on the PC, so
// an access behaves the same from a slot.
constexpr NamedSysreg kEl0Sysregs[] = {
    {sysreg(3, 3, 4, 2, 0), "nzcv", true},
    {sysreg(3, 3, 4, 2, 2), "svcr", true},
    {sysreg(3, 3, 4, 2, 5), "dit", true},
    {sysreg(3, 3, 4, 2, 6), "ssbs", true},
    {sysreg(3, 3, 4, 2, 7), "tco", true},
    {sysreg(3, 3, 4, 4, 0), "fpcr", true},
    {sysreg(3, 3, 4, 4, 1), "fpsr", true},
    {sysreg(3, 3, 4, 4, 2), "fpmr", true},
    {sysreg(3, 3, 13, 0, 2), "tpidr_el0", true},
    {sysreg(3, 3, 13, 0, 3), "tpidrro_el0", false},
    {sysreg(3, 3, 13, 0, 5), "tpidr2_el0", true},
    {sysreg(3, 3, 0, 0, 1), "ctr_el0", false},
    {sysreg(3, 3, 0, 0, 7), "dczid_el0", false},
    {sysreg(3, 3, 2, 4, 0), "rndr", false},
    {sysreg(3, 3, 2, 4, 1), "rndrrs", false},
    {sysreg(3, 3, 14, 0, 0), "cntfrq_el0", false},
    {sysreg(3, 3, 14, 0, 1), "cntpct_el0", false},
    {sysreg(3, 3, 14, 0, 2), "cntvct_el0", false},
    {sysreg(3, 3, 14, 0, 5), "cntpctss_el0", false},
    {sysreg(3, 3, 14, 0, 6), "cntvctss_el0", false},
};
constexpr uint32_t kDaif = sysreg(3, 3, 4, 2, 1);

std::string generic_sysreg_name(uint32_t enc) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "s%u_%u_c%u_c%u_%u", enc >> 14, (enc >> 11) & 7, (enc >> 7) & 15,
                  (enc >> 3) & 15, enc & 7);
    return buf;
}

// mrs Xt, <sysreg> / msr <sysreg>, Xt
SystemVerdict classify_sysreg_access(uint32_t word) {
    const bool read = is_mrs(word);
    const uint32_t enc = sysreg_of(word);
    const char* op = read ? "mrs" : "msr";
    for (const NamedSysreg& r : kEl0Sysregs) {
        if (r.encoding != enc)
            continue;
        const std::string name = std::string(op) + " " + r.name;
        if (read || r.writable)
            return boosted(name);
        return rejected(name, std::string(r.name) + " is read-only at EL0: the write is undefined");
    }
    const std::string name = std::string(op) + " " + generic_sysreg_name(enc);
    if (enc == kDaif)
        return rejected(std::string(op) + " daif",
                        "accesses DAIF, the exception mask the breakpoint and single-step path "
                        "owns (the kernel's probes refuse it for the same reason)");
    // op0=3, op1=0, CRn=0: MIDR_EL1, MPIDR_EL1, REVIDR_EL1 and the ID_AA64*
    // feature registers. Reads trap and the kernel emulates them for EL0
    // (HWCAP_CPUID, used by glibc's CPU detection); the handler advances the
    // PC by 4, which in a slot lands on the B back.
    if (read && (enc >> 7) == sysreg(3, 0, 0, 0, 0) >> 7)
        return boosted(name);
    return rejected(name, "system register " + generic_sysreg_name(enc) +
                              " is not accessible at EL0 (privileged or debug state): "
                              "refused rather than displaced");
}

// sys/sysl: cache maintenance by virtual address is the EL0 part.
SystemVerdict classify_sys(uint32_t word) {
    const uint32_t op1 = field(word, 18, 16);
    const uint32_t crn = field(word, 15, 12);
    const uint32_t crm = field(word, 11, 8);
    const uint32_t op2 = field(word, 7, 5);
    struct Op {
        uint32_t crm, op2;
        const char* name;
    };
    static constexpr Op kEl0Ops[] = {
        {4, 1, "dc zva"},   {4, 3, "dc gva"},    {4, 4, "dc gzva"},
        {5, 1, "ic ivau"},  {10, 1, "dc cvac"},  {11, 1, "dc cvau"},
        {12, 1, "dc cvap"}, {13, 1, "dc cvadp"}, {14, 1, "dc civac"},
    };
    if (op1 == 3 && crn == 7 && field(word, 21, 21) == 0) {
        for (const Op& o : kEl0Ops)
            if (o.crm == crm && o.op2 == op2)
                return boosted(o.name);
    }
    return rejected("sys", "privileged system operation (tlbi/at/cache maintenance by set/way): "
                           "undefined at EL0");
}

} // namespace

std::optional<SystemVerdict> classify_system(uint32_t word) {
    if (is_hint(word))
        return classify_hint(word);
    if (is_barrier(word)) {
        // clrex/dsb/dmb/isb/sb: ordering only. (clrex out of line is no
        // different: the trap that got us there cleared the monitor already.)
        return boosted("barrier");
    }
    if (is_msr_imm(word))
        return classify_pstate_write(word);
    if (is_sys(word))
        return classify_sys(word);
    if (is_mrs_msr(word))
        return classify_sysreg_access(word);
    return std::nullopt;
}

} // namespace probed::arch::arm64
