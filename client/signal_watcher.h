#pragma once
// SIGINT/SIGTERM/SIGHUP as a readable fd (signalfd) rather than async
// handlers: the streaming loop poll()s it next to the socket, so Ctrl-C is
// seen at once and the clean-up (remove probes, detach, stop a private
// daemon) runs as ordinary code instead of inside a handler.
#include "common/result.h"
#include "common/unique_fd.h"

#include <signal.h>

#include <utility>

namespace probed::client {

class SignalWatcher {
  public:
    // Blocks the signals for the whole process and opens the signalfd.
    // Create it before any thread or child exists.
    static Result<SignalWatcher> create();

    // Only the live object may restore the signal mask in its destructor.
    SignalWatcher(SignalWatcher&& other) noexcept
        : fd_(std::move(other.fd_)), previous_(other.previous_),
          restore_(std::exchange(other.restore_, false)), received_(other.received_) {}
    SignalWatcher& operator=(SignalWatcher&&) = delete;
    ~SignalWatcher();

    int fd() const { return fd_.get(); }

    // Reads whatever is pending on fd(); call when poll() reports it readable.
    void drain();

    // How many terminating signals arrived so far: the first asks for a
    // clean stop, a second one while cleaning up means "stop now".
    int received() const { return received_; }

    // A blocked mask survives exec: children must not inherit it, or a
    // private daemon would ignore our SIGTERM. Async-signal-safe.
    static void reset_in_child();

  private:
    SignalWatcher() = default;

    UniqueFd fd_;
    sigset_t previous_{};
    bool restore_ = false;
    int received_ = 0;
};

} // namespace probed::client
