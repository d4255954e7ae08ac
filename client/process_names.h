#pragma once
// Process names for event lines, read from /proc/PID/comm once per pid:
// a hot function can fire thousands of times a second, and the name must
// survive the process's exit for the final lines.
#include <sys/types.h>

#include <string>
#include <unordered_map>

namespace probed::client {

class ProcessNames {
  public:
    // "?" when the process is gone before we first asked.
    const std::string& name_of(pid_t pid);

    // Seeds the cache, e.g. from process.list, which knows names of
    // processes we may not be allowed to read /proc of.
    void remember(pid_t pid, std::string name);

  private:
    std::unordered_map<pid_t, std::string> names_;
};

} // namespace probed::client
