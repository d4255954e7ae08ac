#include "daemon/proc_task.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace probed {

std::optional<std::string> task_status_field(pid_t tid, std::string_view field) {
    std::ifstream in("/proc/" + std::to_string(tid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with(field)) return line.substr(field.size());
    return std::nullopt;
}

pid_t tgid_of(pid_t tid) {
    auto tgid = task_status_field(tid, "Tgid:");
    return tgid ? static_cast<pid_t>(std::atol(tgid->c_str())) : 0;
}

bool seized_already_or_gone(pid_t tid) {
    auto tracer = task_status_field(tid, "TracerPid:");
    return !tracer || std::atol(tracer->c_str()) == static_cast<long>(gettid());
}

bool sigtrap_pending(pid_t tid) {
    auto pending = task_status_field(tid, "SigPnd:");
    return pending && (std::strtoull(pending->c_str(), nullptr, 16) & (1ull << (SIGTRAP - 1)));
}

char thread_state(pid_t tid) {
    std::ifstream in("/proc/" + std::to_string(tid) + "/stat");
    const std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // The state follows the command name, which may hold ')' itself.
    const auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() ? stat[close + 2] : '?';
}

bool thread_exited(pid_t tid) {
    const char state = thread_state(tid);
    return state == 'Z' || state == 'X' || state == '?';
}

} // namespace probed
