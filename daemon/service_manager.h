#pragma once
// Talking to systemd when it runs us: the listening socket it passes (socket
// activation, sd_listen_fds) and readiness/status notifications (sd_notify).
// Built without libsystemd (meson -Dsystemd=disabled) no socket is ever taken
// and notifications do nothing, so the daemon binds its own socket as usual.
#include "common/result.h"

#include <string>

namespace probed::service {

// Whether a service manager expects to hear from us or passed us sockets:
// then we must not fork away (the manager tracks our pid).
bool managed();

// The one listening socket passed by the service manager, or -1 when none
// was passed. More than one socket is an error: we serve exactly one.
Result<int> passed_socket();

void notify_ready(const std::string& status);
void notify_status(const std::string& status);
void notify_stopping();

} // namespace probed::service
