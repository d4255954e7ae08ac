#pragma once
// The system-service half of probed, wired into the RPC loop: durable
// collection (collector.h), probes.d (configured_probes.h) with exec
// notices from the proc connector and a periodic /proc scan, and SIGHUP to
// reload probes.d.
#include "common/unique_fd.h"
#include "daemon/collector.h"
#include "daemon/configured_probes.h"
#include "daemon/proc_connector.h"
#include "daemon/rpc_server.h"

#include <memory>
#include <optional>
#include <string>

namespace probed {

struct ServiceOptions {
    CollectorOptions collect;
    std::string probes_dir;          // empty: no configured probes
    unsigned scan_interval_ms = 2000;
};

class ServiceFeatures {
public:
    ServiceFeatures(TracerThread& tracer, EventQueue& events, ServiceOptions options);
    ~ServiceFeatures();

    // Starts the collector and applies probes.d; hooks everything into
    // `server`. A collector that cannot start (state dir not writable) is
    // logged and leaves the rest of the daemon working without collection.
    void install(RpcServer& server);

private:
    void on_timer();
    void arm_timer(unsigned ms);

    TracerThread& tracer_;
    EventQueue& events_;
    ServiceOptions options_;
    std::unique_ptr<Collector> collector_;
    std::unique_ptr<ConfiguredProbes> configured_;
    std::optional<ProcConnector> connector_;
    UniqueFd sighup_fd_;
    UniqueFd timer_fd_;
    uint64_t next_scan_ns_ = 0;
};

} // namespace probed
