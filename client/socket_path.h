#pragma once
// Where the daemon's socket is when --socket is not given (an outside
// contract, docs/ARCHITECTURE.md).
#include <optional>
#include <string>

namespace probed::client {

struct SocketEnvironment {
    std::optional<std::string> probed_socket;   // $PROBED_SOCKET
    std::optional<std::string> xdg_runtime_dir; // $XDG_RUNTIME_DIR
    bool root = false;                          // euid == 0
};

SocketEnvironment current_socket_environment();

// $PROBED_SOCKET, else /run/probed/probed.sock for root, else
// $XDG_RUNTIME_DIR/probed.sock; nullopt when none applies. Empty variables
// count as unset, as a shell's `VAR= probectl` intends.
std::optional<std::string> default_socket_path(const SocketEnvironment& env);

} // namespace probed::client
