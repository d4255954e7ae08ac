#pragma once
// A connection to a daemon, and the private daemon behind it when we had to
// start one. Member order matters: the connection closes before the
// private daemon is stopped.
#include "client/cli_args.h"
#include "client/daemon_launcher.h"
#include "client/rpc_connection.h"
#include "common/result.h"

#include <memory>
#include <optional>

namespace probed::client {

class SignalWatcher;

struct Session {
    std::unique_ptr<PrivateDaemon> private_daemon;
    std::optional<RpcConnection> connection;
};

// Connects to --socket or the default socket; when nobody listens there and
// --no-autostart is not given, starts a private daemon instead.
Result<Session> open_session(const CliArgs& args, SignalWatcher& watcher);

} // namespace probed::client
