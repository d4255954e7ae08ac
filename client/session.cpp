#include "client/session.h"

#include "client/socket_path.h"

#include <cerrno>

namespace probed::client {

Result<Session> open_session(const CliArgs& args, SignalWatcher& watcher) {
    Session session;
    std::optional<std::string> path =
        args.socket ? args.socket : default_socket_path(current_socket_environment());
    if (path) {
        auto connection = RpcConnection::connect(*path);
        if (connection) {
            session.connection.emplace(std::move(*connection));
            session.connection->set_signal_watcher(&watcher);
            return session;
        }
        int err = connection.error().sys_errno;
        if (err != ENOENT && err != ECONNREFUSED)
            return std::move(connection).error();
    }
    if (args.no_autostart) {
        if (!path)
            return make_error(
                ErrorKind::NotFound,
                "no daemon socket: set PROBED_SOCKET or XDG_RUNTIME_DIR, or pass --socket");
        return make_error(ErrorKind::NotFound,
                          "no probed daemon at " + *path + " (start it, or drop --no-autostart)");
    }
    auto started = PrivateDaemon::start(&watcher);
    if (!started)
        return std::move(started).error();
    session.private_daemon = std::move(started->daemon);
    session.connection.emplace(std::move(started->connection));
    session.connection->set_signal_watcher(&watcher);
    return session;
}

} // namespace probed::client
