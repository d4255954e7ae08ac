#pragma once
// The "is this call an error?" test of a collected probe, written the way
// people say it: "< 0", "== 0", "!= 0", "== -1", ">= 0x100". Parsed once
// when the probe is configured; evaluated on every completed call.
#include "common/result.h"

#include <cstdint>
#include <string>

namespace probed {

// How the raw return register is read. A function declared `int` leaves the
// upper half of rax undefined (x86_64 SysV), so "-1" from open() may arrive
// as 0x00000000ffffffff: comparing it as a 64-bit value would call it
// positive. `Int` keeps the low 32 bits, sign-extended.
enum class RetvalType { Long, Int, ULong, UInt };

const char* retval_type_name(RetvalType t);
Result<RetvalType> parse_retval_type(const std::string& text);

// The value a raw register holds when read as `type`, widened to int64
// (ULong values above INT64_MAX keep their bits; see RetvalPredicate).
int64_t retval_as(RetvalType type, uint64_t raw);

class RetvalPredicate {
public:
    enum class Op { Less, LessEq, Greater, GreaterEq, Equal, NotEqual };

    // "OP NUMBER", OP one of < <= > >= == !=, NUMBER decimal (optionally
    // negative) or 0x hex. Whitespace is optional around both.
    static Result<RetvalPredicate> parse(const std::string& text);

    // Signed comparison for Long/Int, unsigned for ULong/UInt.
    bool matches(RetvalType type, uint64_t raw) const;
    // The canonical spelling, e.g. "< 0".
    std::string text() const;

private:
    Op op_ = Op::Less;
    int64_t operand_ = 0;
};

} // namespace probed
