#include "daemon/retval_predicate.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace probed {

namespace {

Error bad(const std::string& text, const std::string& why) {
    return make_error(ErrorKind::InvalidArgument,
                      "bad error predicate '" + text + "': " + why +
                          " (expected e.g. \"< 0\", \"== -1\", \"!= 0\")");
}

const char* op_text(RetvalPredicate::Op op) {
    switch (op) {
    case RetvalPredicate::Op::Less: return "<";
    case RetvalPredicate::Op::LessEq: return "<=";
    case RetvalPredicate::Op::Greater: return ">";
    case RetvalPredicate::Op::GreaterEq: return ">=";
    case RetvalPredicate::Op::Equal: return "==";
    case RetvalPredicate::Op::NotEqual: return "!=";
    }
    return "?";
}

template <typename T> bool compare(RetvalPredicate::Op op, T a, T b) {
    switch (op) {
    case RetvalPredicate::Op::Less: return a < b;
    case RetvalPredicate::Op::LessEq: return a <= b;
    case RetvalPredicate::Op::Greater: return a > b;
    case RetvalPredicate::Op::GreaterEq: return a >= b;
    case RetvalPredicate::Op::Equal: return a == b;
    case RetvalPredicate::Op::NotEqual: return a != b;
    }
    return false;
}

} // namespace

const char* retval_type_name(RetvalType t) {
    switch (t) {
    case RetvalType::Long: return "long";
    case RetvalType::Int: return "int";
    case RetvalType::ULong: return "ulong";
    case RetvalType::UInt: return "uint";
    }
    return "?";
}

Result<RetvalType> parse_retval_type(const std::string& text) {
    if (text == "long") return RetvalType::Long;
    if (text == "int") return RetvalType::Int;
    if (text == "ulong" || text == "pointer") return RetvalType::ULong;
    if (text == "uint") return RetvalType::UInt;
    return make_error(ErrorKind::InvalidArgument,
                      "bad return type '" + text + "' (expected long, int, ulong, uint or pointer)");
}

int64_t retval_as(RetvalType type, uint64_t raw) {
    switch (type) {
    case RetvalType::Int: return static_cast<int32_t>(static_cast<uint32_t>(raw));
    case RetvalType::UInt: return static_cast<uint32_t>(raw);
    case RetvalType::Long:
    case RetvalType::ULong: break;
    }
    return static_cast<int64_t>(raw);
}

Result<RetvalPredicate> RetvalPredicate::parse(const std::string& text) {
    size_t i = text.find_first_not_of(" \t");
    if (i == std::string::npos) return bad(text, "it is empty");
    static const std::pair<const char*, Op> kOps[] = {
        {"<=", Op::LessEq}, {">=", Op::GreaterEq}, {"==", Op::Equal}, {"!=", Op::NotEqual},
        {"<", Op::Less},    {">", Op::Greater},
    };
    RetvalPredicate p;
    bool found = false;
    for (const auto& [spelling, op] : kOps) {
        std::string s = spelling;
        if (text.compare(i, s.size(), s) == 0) {
            p.op_ = op;
            i += s.size();
            found = true;
            break;
        }
    }
    if (!found) return bad(text, "it must start with one of < <= > >= == !=");
    i = text.find_first_not_of(" \t", i);
    if (i == std::string::npos) return bad(text, "a number must follow the operator");
    size_t end = text.find_last_not_of(" \t") + 1;
    std::string number = text.substr(i, end - i);
    bool negative = !number.empty() && number[0] == '-';
    std::string digits = negative ? number.substr(1) : number;
    errno = 0;
    char* stop = nullptr;
    // Decimal or 0x hex; a leading 0 is not octal here ("010" is ten).
    bool hex = digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X');
    const char* start = digits.c_str() + (hex ? 2 : 0);
    // strtoull itself would accept spaces and a sign here.
    if (!(hex ? std::isxdigit(static_cast<unsigned char>(*start)) : std::isdigit(static_cast<unsigned char>(*start))))
        return bad(text, "'" + number + "' is not a number");
    unsigned long long magnitude = std::strtoull(start, &stop, hex ? 16 : 10);
    if (*stop != '\0') return bad(text, "'" + number + "' is not a number");
    if (errno == ERANGE) return bad(text, "'" + number + "' does not fit in 64 bits");
    if (negative) {
        if (magnitude > (1ull << 63)) return bad(text, "'" + number + "' does not fit in 64 bits");
        p.operand_ = static_cast<int64_t>(0 - magnitude);
    } else {
        // Values above INT64_MAX keep their bits: they are meant unsigned.
        p.operand_ = static_cast<int64_t>(magnitude);
    }
    return p;
}

bool RetvalPredicate::matches(RetvalType type, uint64_t raw) const {
    int64_t v = retval_as(type, raw);
    if (type == RetvalType::ULong || type == RetvalType::UInt)
        return compare<uint64_t>(op_, static_cast<uint64_t>(v), static_cast<uint64_t>(operand_));
    return compare<int64_t>(op_, v, operand_);
}

std::string RetvalPredicate::text() const {
    return std::string(op_text(op_)) + " " + std::to_string(operand_);
}

} // namespace probed
