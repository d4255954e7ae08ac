#include <doctest/doctest.h>

#include "daemon/retval_predicate.h"

using namespace probed;

namespace {

bool eval(const char* text, RetvalType type, uint64_t raw) {
    auto p = RetvalPredicate::parse(text);
    REQUIRE_MESSAGE(p.ok(), text);
    return p->matches(type, raw);
}

std::string parse_error(const char* text) {
    auto p = RetvalPredicate::parse(text);
    REQUIRE_FALSE_MESSAGE(p.ok(), text);
    return p.error().message;
}

} // namespace

TEST_CASE("every operator compares signed 64-bit values by default") {
    CHECK(eval("< 0", RetvalType::Long, static_cast<uint64_t>(-1)));
    CHECK_FALSE(eval("< 0", RetvalType::Long, 0));
    CHECK(eval("<= 0", RetvalType::Long, 0));
    CHECK(eval("> 5", RetvalType::Long, 6));
    CHECK_FALSE(eval("> 5", RetvalType::Long, 5));
    CHECK(eval(">= 5", RetvalType::Long, 5));
    CHECK(eval("== -1", RetvalType::Long, UINT64_MAX));
    CHECK_FALSE(eval("== -1", RetvalType::Long, 1));
    CHECK(eval("!= 0", RetvalType::Long, 42));
    CHECK_FALSE(eval("!= 0", RetvalType::Long, 0));
    CHECK(eval("== 0", RetvalType::Long, 0));
}

TEST_CASE("int return values ignore the undefined upper half of rax") {
    // open() returning -1 through eax: the upper 32 bits are zero.
    uint64_t minus_one_in_eax = 0x00000000ffffffffull;
    CHECK(eval("< 0", RetvalType::Int, minus_one_in_eax));
    CHECK(eval("== -1", RetvalType::Int, minus_one_in_eax));
    CHECK_FALSE(eval("< 0", RetvalType::Long, minus_one_in_eax));
    // Garbage above bit 31 does not change an int.
    CHECK(eval("== 7", RetvalType::Int, 0xdeadbeef00000007ull));
    CHECK(retval_as(RetvalType::Int, minus_one_in_eax) == -1);
    CHECK(retval_as(RetvalType::UInt, 0xdeadbeefffffffffull) == 0xffffffffll);
}

TEST_CASE("unsigned types compare unsigned") {
    CHECK_FALSE(eval("< 0", RetvalType::ULong, UINT64_MAX));
    CHECK(eval("> 0x7fffffffffffffff", RetvalType::ULong, UINT64_MAX));
    CHECK(eval("== 0", RetvalType::ULong, 0)); // NULL pointer
    CHECK(eval("> 10", RetvalType::UInt, 0xffffffffull));
}

TEST_CASE("spelling: spaces optional, hex, canonical text") {
    CHECK(eval("<0", RetvalType::Long, static_cast<uint64_t>(-3)));
    CHECK(eval("  ==   0x10  ", RetvalType::Long, 16));
    CHECK(eval("== 010", RetvalType::Long, 10)); // not octal
    CHECK(RetvalPredicate::parse("<=-5")->text() == "<= -5");
    CHECK(RetvalPredicate::parse("!=0x10")->text() == "!= 16");
    CHECK(eval("== -9223372036854775808", RetvalType::Long, 1ull << 63));
}

TEST_CASE("bad predicates are refused with a reason") {
    CHECK(parse_error("").find("empty") != std::string::npos);
    CHECK(parse_error("0").find("must start with") != std::string::npos);
    CHECK(parse_error("=< 0").find("must start with") != std::string::npos);
    CHECK(parse_error("= 0").find("must start with") != std::string::npos);
    CHECK(parse_error("<").find("number must follow") != std::string::npos);
    CHECK(parse_error("< x").find("not a number") != std::string::npos);
    CHECK(parse_error("< 1 2").find("not a number") != std::string::npos);
    CHECK(parse_error("< - 1").find("not a number") != std::string::npos);
    CHECK(parse_error("< --1").find("not a number") != std::string::npos);
    CHECK(parse_error("< +1").find("not a number") != std::string::npos);
    CHECK(parse_error("< 0x").find("not a number") != std::string::npos);
    CHECK(parse_error("< 0xg").find("not a number") != std::string::npos);
    CHECK(parse_error("< 99999999999999999999").find("64 bits") != std::string::npos);
    CHECK(parse_error("< -9223372036854775809").find("64 bits") != std::string::npos);
}

TEST_CASE("return types by name") {
    CHECK(*parse_retval_type("int") == RetvalType::Int);
    CHECK(*parse_retval_type("long") == RetvalType::Long);
    CHECK(*parse_retval_type("pointer") == RetvalType::ULong);
    CHECK(*parse_retval_type("uint") == RetvalType::UInt);
    CHECK_FALSE(parse_retval_type("short").ok());
}
