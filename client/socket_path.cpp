#include "client/socket_path.h"

#include <unistd.h>

#include <cstdlib>

namespace probed::client {

namespace {

std::optional<std::string> env_value(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v)
        return std::nullopt;
    return std::string(v);
}

} // namespace

SocketEnvironment current_socket_environment() {
    return {env_value("PROBED_SOCKET"), env_value("XDG_RUNTIME_DIR"), geteuid() == 0};
}

std::optional<std::string> default_socket_path(const SocketEnvironment& env) {
    if (env.probed_socket && !env.probed_socket->empty())
        return env.probed_socket;
    if (env.root)
        return std::string("/run/probed/probed.sock");
    if (env.xdg_runtime_dir && !env.xdg_runtime_dir->empty())
        return *env.xdg_runtime_dir + "/probed.sock";
    return std::nullopt;
}

} // namespace probed::client
