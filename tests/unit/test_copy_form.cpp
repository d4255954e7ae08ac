// Which form a copy of the trampoline address takes (daemon/copy_form.h).
#include "daemon/copy_form.h"

#include <doctest/doctest.h>

using namespace probed;

namespace {

constexpr uint64_t kTrampoline = 0xaaaaab62f000;
constexpr uint64_t kMask = 0x007f000000000000; // 48-bit addresses, top byte ignored

} // namespace

TEST_CASE("without pointer authentication every copy is plain") {
    CHECK(copy_form(kTrampoline, kTrampoline, 0, false, true) == CopyForm::Plain);
    CHECK(copy_form(kTrampoline, kTrampoline, 0, true, true) == CopyForm::Plain);
}

TEST_CASE("a copy with an authentication code is signed, in memory or in x30") {
    const uint64_t signed_copy = kTrampoline | 0x0075000000000000;
    CHECK(copy_form(signed_copy, kTrampoline, kMask, false, true) == CopyForm::Signed);
    CHECK(copy_form(signed_copy, kTrampoline, kMask, true, true) == CopyForm::Signed);
}

TEST_CASE("a copy equal to the trampoline address in a signing frame's memory may be signed") {
    // paciasp's code was 0 (one pair in 128): the frame record holds the
    // signed address, identical to the plain one.
    CHECK(copy_form(kTrampoline, kTrampoline, kMask, false, true) == CopyForm::Ambiguous);
}

TEST_CASE("a copy equal to the trampoline address is plain where nothing signed it") {
    // The function does not sign at its entry.
    CHECK(copy_form(kTrampoline, kTrampoline, kMask, false, false) == CopyForm::Plain);
    // x30 before paciasp or after autiasp, or where the code cannot tell.
    CHECK(copy_form(kTrampoline, kTrampoline, kMask, true, true, arch::LinkState::Plain) ==
          CopyForm::Plain);
    CHECK(copy_form(kTrampoline, kTrampoline, kMask, true, true, arch::LinkState::Unknown) ==
          CopyForm::Plain);
    CHECK(copy_form(kTrampoline, kTrampoline, kMask, true, false) == CopyForm::Plain);
}

TEST_CASE("x30 equal to the trampoline address is signed where the code ahead authenticates it") {
    // A leaf between paciasp and autiasp with a code of 0, whether or not
    // paciasp was its first instruction (GCC moves a leaf's down).
    CHECK(copy_form(kTrampoline, kTrampoline, kMask, true, true, arch::LinkState::Signed) ==
          CopyForm::Signed);
    CHECK(copy_form(kTrampoline, kTrampoline, kMask, true, false, arch::LinkState::Signed) ==
          CopyForm::Signed);
    // Without pointer authentication nothing is signed, whatever the code.
    CHECK(copy_form(kTrampoline, kTrampoline, 0, true, true, arch::LinkState::Signed) ==
          CopyForm::Plain);
}
