#include "client/process_names.h"

#include <fstream>

namespace probed::client {

const std::string& ProcessNames::name_of(pid_t pid) {
    auto it = names_.find(pid);
    if (it != names_.end())
        return it->second;
    std::string name;
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    if (!in || !std::getline(in, name) || name.empty())
        name = "?";
    return names_.emplace(pid, std::move(name)).first->second;
}

void ProcessNames::remember(pid_t pid, std::string name) {
    if (!name.empty())
        names_[pid] = std::move(name);
}

} // namespace probed::client
