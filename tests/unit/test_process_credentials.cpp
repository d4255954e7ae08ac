#include "daemon/process_credentials.h"

#include <doctest/doctest.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

using namespace probed;

// Lines as Linux 6.x prints them in /proc/PID/status (abridged).
constexpr const char* kStatus = "Name:\tsudo\n"
                                "Umask:\t0022\n"
                                "State:\tS (sleeping)\n"
                                "Pid:\t4242\n"
                                "Uid:\t1000\t0\t0\t0\n"
                                "Gid:\t1000\t1000\t1000\t1000\n"
                                "FDSize:\t64\n"
                                "Groups:\t4 24 27 1000 \n"
                                "CapInh:\t0000000000000000\n"
                                "CapPrm:\t000001ffffffffff\n"
                                "CapEff:\t000001ffffffffff\n";

TEST_CASE("a status text gives uids, gids, groups and capabilities") {
    auto c = parse_proc_status(kStatus);
    REQUIRE(c.ok());
    CHECK(c->uids[0] == 1000);
    CHECK(c->uids[1] == 0);
    CHECK(c->uids[2] == 0);
    CHECK(c->euid() == 0);
    CHECK(c->gids[1] == 1000);
    CHECK(c->groups == std::vector<gid_t>{4, 24, 27, 1000});
    CHECK(c->has_capability(CAP_SYS_PTRACE));
    CHECK(c->cap_effective == 0x1ffffffffffull);
}

TEST_CASE("no groups and no capabilities") {
    auto c = parse_proc_status("Uid:\t65534\t65534\t65534\t65534\n"
                               "Gid:\t65534\t65534\t65534\t65534\n"
                               "Groups:\t\n"
                               "CapEff:\t0000000000000000\n");
    REQUIRE(c.ok());
    CHECK(c->groups.empty());
    CHECK_FALSE(c->has_capability(CAP_SYS_PTRACE));
}

TEST_CASE("malformed or incomplete status is an error") {
    CHECK_FALSE(parse_proc_status("").ok());
    CHECK_FALSE(parse_proc_status("Uid:\t1000\t1000\n"
                                  "Gid:\t1\t1\t1\t1\nCapEff:\t0\n")
                    .ok());
    CHECK_FALSE(parse_proc_status("Uid:\t1000\tx\t1000\t1000\n"
                                  "Gid:\t1\t1\t1\t1\nCapEff:\t0\n")
                    .ok());
    CHECK_FALSE(parse_proc_status("Uid:\t1\t1\t1\t1\nGid:\t1\t1\t1\t1\n").ok()); // no CapEff
    CHECK_FALSE(parse_proc_status("Uid:\t1\t1\t1\t1\nGid:\t1\t1\t1\t1\nCapEff:\tzz\n").ok());
}

TEST_CASE("our own credentials") {
    auto self = read_process_credentials(getpid());
    REQUIRE(self.ok());
    CHECK(self->pid == getpid());
    CHECK(self->uids[0] == getuid());
    CHECK(self->euid() == geteuid());
    CHECK(self->gids[1] == getegid());
    CHECK(self->dumpable);
    CHECK_FALSE(read_process_credentials(0x7ffffff0).ok());
}

TEST_CASE("a process that made itself non-dumpable is seen so") {
    int ready[2];
    REQUIRE(pipe(ready) == 0);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // As root, also become another user, so the root-owned /proc entry
        // differs from the effective uid.
        if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0) _exit(1);
        if (prctl(PR_SET_DUMPABLE, 0) != 0) _exit(1);
        (void)!write(ready[1], "x", 1);
        pause();
        _exit(0);
    }
    close(ready[1]);
    char c;
    bool started = read(ready[0], &c, 1) == 1;
    close(ready[0]);
    auto creds = read_process_credentials(child);
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    REQUIRE(started);
    REQUIRE(creds.ok());
    CHECK(creds->euid() == (geteuid() == 0 ? 65534u : geteuid()));
    CHECK_FALSE(creds->dumpable);
}
