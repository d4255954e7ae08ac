#include <doctest/doctest.h>

#include "daemon/process_selector.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>

using namespace probed;

namespace {

ProcessFacts facts(const char* exe, const char* comm, std::vector<std::string> cgroups) {
    return ProcessFacts{1234, exe, comm, std::move(cgroups)};
}

ProcessSelector sel(ProcessSelector::Kind kind, std::string value, pid_t pid = 0) {
    ProcessSelector s;
    s.kind = kind;
    s.value = std::move(value);
    s.pid = pid;
    return s;
}

} // namespace

TEST_CASE("units match by cgroup, under any slice") {
    CHECK(cgroup_in_unit("/system.slice/nginx.service", "nginx.service"));
    CHECK(cgroup_in_unit("/system.slice/nginx.service/worker", "nginx.service"));
    CHECK(cgroup_in_unit("/user.slice/user-1000.slice/user@1000.service/app.slice/x.service", "x.service"));
    CHECK_FALSE(cgroup_in_unit("/system.slice/nginx.service2", "nginx.service"));
    CHECK_FALSE(cgroup_in_unit("/system.slice/other.service", "nginx.service"));
    CHECK_FALSE(cgroup_in_unit("/nginx.service", "nginx.service")); // not under a slice
    CHECK_FALSE(cgroup_in_unit("/", "nginx.service"));
    CHECK(normalize_unit("nginx") == "nginx.service");
    CHECK(normalize_unit("cron.timer") == "cron.timer");
}

TEST_CASE("each selector kind") {
    ProcessFacts nginx = facts("/usr/sbin/nginx", "nginx", {"/system.slice/nginx.service"});
    CHECK(selector_matches(sel(ProcessSelector::Kind::Pid, "", 1234), nginx));
    CHECK_FALSE(selector_matches(sel(ProcessSelector::Kind::Pid, "", 99), nginx));
    CHECK(selector_matches(sel(ProcessSelector::Kind::Exe, "/usr/sbin/nginx"), nginx));
    CHECK_FALSE(selector_matches(sel(ProcessSelector::Kind::Exe, "/usr/sbin/ngin"), nginx));
    CHECK(selector_matches(sel(ProcessSelector::Kind::Comm, "nginx"), nginx));
    CHECK_FALSE(selector_matches(sel(ProcessSelector::Kind::Comm, "nginx2"), nginx));
    CHECK(selector_matches(sel(ProcessSelector::Kind::Unit, "nginx"), nginx));
    CHECK_FALSE(selector_matches(sel(ProcessSelector::Kind::Unit, "ssh"), nginx));
    // The kernel truncates comm to 15 bytes.
    ProcessFacts longname = facts("/x/probe_target_pie_O2", "probe_target_pi", {});
    CHECK(selector_matches(sel(ProcessSelector::Kind::Comm, "probe_target_pie_O2"), longname));
    // Kernel threads (no exe) are never selected by name or unit.
    ProcessFacts kthread = facts("", "nginx", {"/system.slice/nginx.service"});
    CHECK_FALSE(selector_matches(sel(ProcessSelector::Kind::Comm, "nginx"), kthread));
    CHECK_FALSE(selector_matches(sel(ProcessSelector::Kind::Unit, "nginx"), kthread));
}

TEST_CASE("facts of this very process, read from /proc") {
    auto f = read_process_facts(getpid());
    REQUIRE(f.ok());
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    REQUIRE(n > 0);
    CHECK(f->exe == std::string(exe, static_cast<size_t>(n)));
    std::ifstream comm("/proc/self/comm");
    std::string c;
    std::getline(comm, c);
    CHECK(f->comm == c);
    // One path per line of /proc/self/cgroup (none in a VM's bare initramfs).
    std::ifstream cg("/proc/self/cgroup");
    size_t lines = 0;
    for (std::string line; std::getline(cg, line);) lines += !line.empty();
    CHECK(f->cgroups.size() == lines);
    CHECK(selector_matches(sel(ProcessSelector::Kind::Exe, f->exe), *f));
    auto pids = list_pids();
    CHECK(std::find(pids.begin(), pids.end(), getpid()) != pids.end());
    CHECK(read_process_facts(0x7ffffff0).error().kind == ErrorKind::ProcessGone);
}
