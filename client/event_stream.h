#pragma once
// The streaming loop of attach and run: poll() on the daemon socket, the
// signal fd and the traced process's pidfd; print our events until a stop
// condition holds.
#include "client/event_printer.h"
#include "client/output_relay.h"
#include "client/rpc_connection.h"
#include "client/signal_watcher.h"
#include "common/result.h"

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

namespace probed::client {

struct StreamSpec {
    pid_t pid = 0;                      // its `exit` event ends the stream
    std::set<std::int64_t> probe_ids;   // call events of other probes are not ours
    std::optional<std::uint64_t> count; // stop after this many `counted_type` events
    std::optional<double> duration_s;
    std::string counted_type = "return";
    bool print = true; // false: only wait for the exit
};

struct StreamStop {
    enum class Reason { Count, Duration, Signal, TargetExited, OutputClosed };
    Reason reason = Reason::Signal;
    // The `exit` event, when the target's end was reported by the daemon
    // (null if we only saw it through the pidfd).
    nlohmann::json exit_event;
};

// Transport errors (the daemon went away) come back as an Error. `relay`
// (may be null) copies a spawned program's output while we wait.
Result<StreamStop> stream_events(RpcConnection& connection, SignalWatcher& watcher,
                                 EventPrinter& printer, const StreamSpec& spec,
                                 OutputRelay* relay = nullptr);

} // namespace probed::client
