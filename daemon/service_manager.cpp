#include "daemon/service_manager.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

#if PROBED_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace probed::service {

namespace {

bool env_set(const char* name) {
    const char* v = std::getenv(name);
    return v && *v;
}

} // namespace

bool managed() { return env_set("NOTIFY_SOCKET") || env_set("LISTEN_PID"); }

#if PROBED_HAVE_LIBSYSTEMD

Result<int> passed_socket() {
    // unset_environment=1: programs we spawn must not think the sockets are theirs.
    int n = sd_listen_fds(1);
    if (n < 0) return Error::from_errno("sd_listen_fds", -n);
    if (n == 0) return -1;
    if (n > 1)
        return make_error(ErrorKind::InvalidArgument,
                          "the service manager passed " + std::to_string(n) +
                              " sockets; probed serves exactly one");
    return SD_LISTEN_FDS_START;
}

void notify_ready(const std::string& status) {
    sd_notifyf(0, "READY=1\nSTATUS=%s", status.c_str());
}

void notify_status(const std::string& status) { sd_notifyf(0, "STATUS=%s", status.c_str()); }

void notify_stopping() { sd_notify(0, "STOPPING=1\nSTATUS=restoring traced processes"); }

#else

Result<int> passed_socket() {
    if (env_set("LISTEN_FDS"))
        spdlog::warn("LISTEN_FDS is set but probed was built without libsystemd: binding its own socket");
    return -1;
}

void notify_ready(const std::string&) {}
void notify_status(const std::string&) {}
void notify_stopping() {}

#endif

} // namespace probed::service
