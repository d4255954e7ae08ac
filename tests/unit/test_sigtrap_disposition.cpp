#include "daemon/sigtrap_disposition.h"

#include <doctest/doctest.h>

#include <string>

using namespace probed;

namespace {

// A /proc/PID/stat line as the kernel prints it (fields 1 to 52), with the
// given sigignore (33rd) and sigcatch (34th) fields.
std::string stat_line(const std::string& comm, const std::string& sigignore,
                      const std::string& sigcatch) {
    std::string s = "4242 (" + comm + ") S 1 4242 4242 0 -1 4194304 102 0 0 0 0 0 0 0 20 0 1 0 "
                    "6494159 3133440 388 18446744073709551615 94801645039616 94801645059497 "
                    "140733722108880 0 0 0 0 ";
    s += sigignore + " " + sigcatch;
    s += " 0 0 0 17 1 0 0 0 0 0 94801645075504 94801645077120 94802213879808 140733722114700 "
         "140733722114720 140733722114720 140733722116075 0\n";
    return s;
}

constexpr uint64_t kTrap = 1ull << 4; // SIGTRAP is signal 5

} // namespace

TEST_CASE("SIGTRAP's kind comes from the sigignore and sigcatch fields") {
    CHECK(sigtrap_kind_from_stat(stat_line("cat", "0", "0")) == SigtrapKind::Default);
    CHECK(sigtrap_kind_from_stat(stat_line("cat", std::to_string(kTrap), "0")) ==
          SigtrapKind::Ignored);
    CHECK(sigtrap_kind_from_stat(stat_line("cat", "0", std::to_string(kTrap))) ==
          SigtrapKind::Caught);
    // Other signals' bits say nothing about SIGTRAP (SIGPIPE ignored, SIGSEGV
    // and SIGUSR2 caught, as a server's may be).
    CHECK(sigtrap_kind_from_stat(stat_line("cat", "4096", std::to_string((1ull << 10) | (1ull << 11)))) ==
          SigtrapKind::Default);
    // A command name with spaces and parentheses of its own.
    CHECK(sigtrap_kind_from_stat(stat_line("a) 1 2 (b", "0", std::to_string(kTrap | 1))) ==
          SigtrapKind::Caught);
}

TEST_CASE("a malformed stat text gives no kind") {
    CHECK_FALSE(sigtrap_kind_from_stat(""));
    CHECK_FALSE(sigtrap_kind_from_stat("4242 (cat S 1 2"));
    CHECK_FALSE(sigtrap_kind_from_stat("4242 (cat) S 1 2 3\n"));
    CHECK_FALSE(sigtrap_kind_from_stat(stat_line("cat", "x", "0")));
    CHECK_FALSE(sigtrap_kind_from_stat(stat_line("cat", "0", "-1")));
}

TEST_CASE("a sigaction's handler gives its kind") {
    CHECK(kind_of(KernelSigaction{0, 0, 0, 0}) == SigtrapKind::Default);
    CHECK(kind_of(KernelSigaction{1, 0, 0, 0}) == SigtrapKind::Ignored);
    CHECK(kind_of(KernelSigaction{0x401136, 0x04000000, 0x7f0000001000, 0}) == SigtrapKind::Caught);
}

TEST_CASE("a trap looks at the disposition: always while the program has its own, else now and then") {
    SigtrapDisposition d;
    CHECK(d.look_due(0));
    // Nothing to keep: a default seen is the program's.
    CHECK(d.step_at_trap(SigtrapKind::Default, 0) == SigtrapStep::Nothing);
    d.next_look_ns = 1000;
    CHECK_FALSE(d.look_due(999));
    CHECK(d.look_due(1000));
    // A handler installed since: our traps never make one, so it is read.
    CHECK(d.step_at_trap(SigtrapKind::Caught, 0) == SigtrapStep::Capture);

    d.captured(KernelSigaction{0x401136, 0, 0, 0}, 5000);
    CHECK(d.kind == SigtrapKind::Caught);
    REQUIRE(d.action);
    CHECK(d.action->handler == 0x401136);
    CHECK(d.look_due(5001)); // every trap, while there is a handler to lose
    // Intact: nothing until it is read again to follow a changed handler.
    CHECK(d.step_at_trap(SigtrapKind::Caught, 5001) == SigtrapStep::Nothing);
    CHECK(d.step_at_trap(SigtrapKind::Caught, 5000 + SigtrapDisposition::kCaptureEveryNs) ==
          SigtrapStep::Capture);
    // Reset by a trap: the kept one is written back.
    CHECK(d.step_at_trap(SigtrapKind::Default, 5001) == SigtrapStep::Restore);
    // Changed by the program to ignoring it: read.
    CHECK(d.step_at_trap(SigtrapKind::Ignored, 5001) == SigtrapStep::Capture);
}

TEST_CASE("where no trap of ours reset it, only a disposition of the program's own is read") {
    SigtrapDisposition d;
    CHECK(d.step_at_rest(SigtrapKind::Default) == SigtrapStep::Nothing);
    CHECK(d.step_at_rest(SigtrapKind::Caught) == SigtrapStep::Capture);
    d.captured(KernelSigaction{0x401136, 0, 0, 0}, 0);
    CHECK(d.step_at_rest(SigtrapKind::Caught) == SigtrapStep::Nothing);
    CHECK(d.step_at_rest(SigtrapKind::Ignored) == SigtrapStep::Capture);
    // Another thread's trap may be about to be reported: a default seen here
    // is not taken for the program's.
    CHECK(d.step_at_rest(SigtrapKind::Default) == SigtrapStep::Nothing);
    CHECK(d.kind == SigtrapKind::Caught);
}

TEST_CASE("exec drops a handler and keeps SIGTRAP ignored, with no flags") {
    SigtrapDisposition caught;
    caught.captured(KernelSigaction{0x401136, 0x14000000, 0x7f0000001000, 0xff}, 0);
    caught.action_slot = 0x7f0000002000;
    caught.after_exec();
    CHECK(caught.kind == SigtrapKind::Default);
    CHECK_FALSE(caught.action);
    CHECK(caught.action_slot == 0);
    CHECK(caught.look_due(0));

    SigtrapDisposition ignored;
    ignored.captured(KernelSigaction{1, 0x04000000, 0x7f0000001000, 0xff}, 0);
    ignored.after_exec();
    CHECK(ignored.kind == SigtrapKind::Ignored);
    REQUIRE(ignored.action);
    CHECK(ignored.action->handler == 1);
    CHECK(ignored.action->flags == 0);
    CHECK(ignored.action->mask == 0);
    CHECK(ignored.action->restorer == 0);
}

TEST_CASE("a fork child keeps the parent's disposition and slot, with a /proc file of its own") {
    SigtrapDisposition d;
    d.captured(KernelSigaction{0x401136, 0, 0, 0}, 0);
    d.action_slot = 0x7f0000002000;
    const SigtrapDisposition c = d.for_fork_child();
    CHECK(c.kind == SigtrapKind::Caught);
    REQUIRE(c.action);
    CHECK(c.action->handler == 0x401136);
    CHECK(c.action_slot == 0x7f0000002000);
    CHECK_FALSE(c.stat_fd.valid());
}
