#include "client/signal_watcher.h"

#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <utility>

namespace probed::client {

namespace {

sigset_t watched_set() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    return set;
}

} // namespace

Result<SignalWatcher> SignalWatcher::create() {
    SignalWatcher w;
    // A signal ignored by whoever started us (a shell's background job has
    // SIGINT set to SIG_IGN) would be discarded before signalfd saw it, and
    // Ctrl-C/kill could never make us remove our probes: take them back.
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, SIG_DFL);
    sigset_t set = watched_set();
    if (sigprocmask(SIG_BLOCK, &set, &w.previous_) != 0)
        return Error::from_errno("sigprocmask");
    w.restore_ = true;
    int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0)
        return Error::from_errno("signalfd");
    w.fd_.reset(fd);
    return w;
}

SignalWatcher::~SignalWatcher() {
    if (!std::exchange(restore_, false))
        return;
    fd_.reset();
    sigprocmask(SIG_SETMASK, &previous_, nullptr);
}

void SignalWatcher::drain() {
    signalfd_siginfo info;
    while (::read(fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info))
        ++received_;
}

void SignalWatcher::reset_in_child() {
    sigset_t set = watched_set();
    sigprocmask(SIG_UNBLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_DFL);
}

} // namespace probed::client
