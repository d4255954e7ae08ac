#include "daemon/proc_task.h"

#include <fstream>
#include <iterator>
#include <string>

namespace probed {

bool thread_exited(pid_t tid) {
    std::ifstream in("/proc/" + std::to_string(tid) + "/stat");
    const std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // The state follows the command name, which may hold ')' itself.
    const auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size()) return true;
    return stat[close + 2] == 'Z' || stat[close + 2] == 'X';
}

} // namespace probed
