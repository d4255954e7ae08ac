#include "daemon/process_selector.h"

#include <dirent.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <fstream>

namespace probed {

std::string ProcessSelector::describe() const {
    switch (kind) {
    case Kind::Pid: return "pid " + std::to_string(pid);
    case Kind::Exe: return "exe " + value;
    case Kind::Comm: return "comm " + value;
    case Kind::Unit: return "unit " + value;
    }
    return "?";
}

std::string normalize_unit(const std::string& unit) {
    return unit.find('.') == std::string::npos ? unit + ".service" : unit;
}

bool cgroup_in_unit(const std::string& path, const std::string& unit) {
    std::string parent;
    size_t i = 0;
    while (i < path.size()) {
        size_t next = path.find('/', i + 1);
        std::string seg = path.substr(i + 1, next == std::string::npos ? std::string::npos : next - i - 1);
        if (seg == unit && parent.size() > 6 && parent.compare(parent.size() - 6, 6, ".slice") == 0) return true;
        parent = seg;
        if (next == std::string::npos) break;
        i = next;
    }
    return false;
}

namespace {

// The executable's path: /proc/PID/exe, or, for a process whose main thread
// has left (pthread_exit) and whose leader's link is gone with its memory,
// the link of a thread still running. "" if none can be read.
std::string executable_path(const std::string& dir) {
    char buf[4096];
    ssize_t n = readlink((dir + "/exe").c_str(), buf, sizeof buf - 1);
    if (n <= 0) {
        if (DIR* d = opendir((dir + "/task").c_str())) {
            while (dirent* e = readdir(d)) {
                if (e->d_name[0] == '.') continue;
                n = readlink((dir + "/task/" + e->d_name + "/exe").c_str(), buf, sizeof buf - 1);
                if (n > 0) break;
            }
            closedir(d);
        }
    }
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

} // namespace

Result<ProcessFacts> read_process_facts(pid_t pid) {
    ProcessFacts f;
    f.pid = pid;
    std::string dir = "/proc/" + std::to_string(pid);
    {
        std::ifstream in(dir + "/comm");
        if (!in) return make_error(ErrorKind::ProcessGone, "pid " + std::to_string(pid) + " is gone");
        std::getline(in, f.comm);
    }
    f.exe = executable_path(dir);
    if (!f.exe.empty()) {
        const std::string deleted = " (deleted)";
        if (f.exe.size() > deleted.size() && f.exe.compare(f.exe.size() - deleted.size(), deleted.size(), deleted) == 0)
            f.exe.resize(f.exe.size() - deleted.size());
    }
    std::ifstream cg(dir + "/cgroup");
    std::string line;
    // "0::/system.slice/nginx.service" (v2) or "4:pids:/system.slice/..." (v1)
    while (std::getline(cg, line)) {
        size_t c1 = line.find(':');
        size_t c2 = c1 == std::string::npos ? c1 : line.find(':', c1 + 1);
        if (c2 != std::string::npos) f.cgroups.push_back(line.substr(c2 + 1));
    }
    return f;
}

std::vector<pid_t> list_pids() {
    std::vector<pid_t> out;
    DIR* d = opendir("/proc");
    if (!d) return out;
    while (dirent* e = readdir(d)) {
        if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
        out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
    }
    closedir(d);
    return out;
}

bool selector_matches(const ProcessSelector& sel, const ProcessFacts& facts) {
    switch (sel.kind) {
    case ProcessSelector::Kind::Pid: return facts.pid == sel.pid;
    case ProcessSelector::Kind::Exe: return !facts.exe.empty() && facts.exe == sel.value;
    // The kernel keeps 15 bytes of a name.
    case ProcessSelector::Kind::Comm: return !facts.exe.empty() && facts.comm == sel.value.substr(0, 15);
    case ProcessSelector::Kind::Unit:
        if (facts.exe.empty()) return false; // kernel threads
        for (const auto& path : facts.cgroups)
            if (cgroup_in_unit(path, normalize_unit(sel.value))) return true;
        return false;
    }
    return false;
}

} // namespace probed
