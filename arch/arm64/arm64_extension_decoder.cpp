#include "arch/arm64/arm64_extension_decoder.h"

#include "arch/arm64/arm64_encoding.h"

namespace probed::arch::arm64 {

namespace {

struct Family {
    uint32_t mask;
    uint32_t value;
    ExtensionVerdict verdict;
};

// Boosted unless said otherwise: none of these reads the PC.
constexpr Family kFamilies[] = {
    // Authenticated returns and jumps authenticate x30/Xn (with sp/Xm as the
    // modifier) and branch: a slot runs them unchanged and needs no way back.
    {0xfffffbff, 0xd65f0bff, {Strategy::Boosted, "retaa/retab", nullptr, false, true}},
    {0xfffff81f, 0xd61f081f, {Strategy::Boosted, "braaz/brabz", nullptr, false, true}},
    {0xfffff800, 0xd71f0800, {Strategy::Boosted, "braa/brab", nullptr, false, true}},
    // Authenticated calls also write x30 = PC + 4, which from a slot is the
    // slot's address: step them and fix x30 up, like x86's call r/m.
    {0xfffff81f, 0xd63f081f, {Strategy::Stepped, "blraaz/blrabz", nullptr, true, false}},
    {0xfffff800, 0xd73f0800, {Strategy::Stepped, "blraa/blrab", nullptr, true, false}},
    {0xfffffbff,
     0xd69f0bff,
     {Strategy::Reject, "eretaa/eretab", "exception return: undefined at EL0", false, false}},
    {0xff200400, 0xf8200400, {Strategy::Boosted, "ldraa/ldrab"}},
    // FEAT_LSE: single atomic instructions, no monitor to lose.
    {0x3fa07c00, 0x08a07c00, {Strategy::Boosted, "cas"}},
    {0xbfa07c00, 0x08207c00, {Strategy::Boosted, "casp"}},
    {0x3f200c00, 0x38200000, {Strategy::Boosted, "ldadd/ldclr/ldeor/ldset/ldmax/ldmin/swp/ldapr"}},
    // FEAT_LRCPC2
    {0x3f200c00, 0x19000000, {Strategy::Boosted, "ldapur/stlur"}},
};

} // namespace

std::optional<ExtensionVerdict> classify_extension(uint32_t word) {
    for (const Family& f : kFamilies)
        if (matches(word, f.mask, f.value))
            return f.verdict;
    return std::nullopt;
}

} // namespace probed::arch::arm64
