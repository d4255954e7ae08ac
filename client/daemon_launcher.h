#pragma once
// The private probed that probectl starts when it finds no daemon: it lives
// in a fresh temporary directory for exactly as long as this probectl.
#include "client/rpc_connection.h"
#include "common/result.h"

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace probed::client {

class SignalWatcher;

// Where to look for probed, given our own executable's path: the build
// tree (build/client/probectl → build/daemon/probed), then one bin
// directory for both, then the installed layout (bin/probectl, sbin/probed:
// the daemon installs to sbindir). PATH is searched after these.
std::vector<std::string> probed_candidates(const std::string& self_exe);

class PrivateDaemon {
  public:
    struct Started;

    // Starts `probed --socket DIR/probed.sock --foreground --log-level warn`
    // and waits up to 5 s until its socket accepts. `watcher` lets Ctrl-C
    // abort the wait.
    static Result<Started> start(SignalWatcher* watcher);

    PrivateDaemon(const PrivateDaemon&) = delete;
    PrivateDaemon& operator=(const PrivateDaemon&) = delete;
    // SIGTERM (the daemon then restores and detaches every tracee), reap it,
    // remove the directory.
    ~PrivateDaemon();

    const std::string& socket_path() const { return socket_path_; }

  private:
    PrivateDaemon(std::string dir, std::string socket_path)
        : dir_(std::move(dir)), socket_path_(std::move(socket_path)) {}

    Result<void> spawn();
    Result<RpcConnection> wait_until_ready(SignalWatcher* watcher);
    void stop();

    std::string dir_;
    std::string socket_path_;
    pid_t pid_ = -1;
};

struct PrivateDaemon::Started {
    std::unique_ptr<PrivateDaemon> daemon;
    RpcConnection connection;
};

} // namespace probed::client
