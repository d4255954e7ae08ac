#pragma once
// Durable collection of completed calls, off the tracer thread.
//
// The RPC thread's event fan-out hands every event to offer() (a subscriber
// in all but name); events of collected probes go into the collector's own
// bounded queue, and the collector's thread turns them into JSON Lines and
// aggregates (collection.h). The tracer never touches a file, and a slow
// disk only ever fills the collector's queue: what does not fit is dropped
// and counted against the probe's collection, as are the events the daemon's
// own queue could not take.
#include "common/jsonrpc.h"
#include "common/result.h"
#include "daemon/collect_spec.h"
#include "daemon/collection.h"
#include "daemon/event_queue.h"
#include "daemon/jsonl_store.h"

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

namespace probed {

struct CollectorOptions {
    std::string state_dir = "/var/lib/probed";
    RotationPolicy rotation;
    size_t queue = 65536;          // events waiting to be written
    unsigned save_interval_ms = 1000; // how often changed aggregates are saved
};

class Collector {
public:
    Collector(EventQueue& daemon_queue, CollectorOptions options);
    ~Collector(); // stop()
    Collector(const Collector&) = delete;
    Collector& operator=(const Collector&) = delete;

    // Creates the state dir, loads saved collections, starts the thread.
    Result<void> start();
    // Writes what is queued, saves every collection, ends the thread.
    void stop();

    // From now on, completed calls of `probe_id` go to spec.name.
    void collect_probe(uint64_t probe_id, pid_t pid, const CollectSpec& spec);
    // The probe is gone (its collection stays).
    void forget_probe(uint64_t probe_id);
    // Every event the daemon delivers, on the RPC thread. Cheap for
    // probes that are not collected.
    void offer(const CallEvent& ev);

    // The collection a probe feeds, if any (also after the probe is gone).
    std::optional<std::string> collection_of(uint64_t probe_id) const;
    // stats.get: every collection, or the one named.
    rpc::json stats(const std::optional<std::string>& name) const;
    const std::string& state_dir() const { return options_.state_dir; }

private:
    struct Route {
        std::string collection;
        pid_t pid = 0;
        bool active = true;
    };

    void run();
    void write_batch(std::vector<CallEvent>& batch);
    void account_drops();
    void save_all();
    Collection& collection_locked(const std::string& name);

    EventQueue& daemon_queue_;
    CollectorOptions options_;
    EventQueue queue_;

    mutable std::mutex routes_mu_; // routes_ (RPC thread and collector thread)
    std::map<uint64_t, Route> routes_;

    mutable std::mutex data_mu_; // collections_ and drop baselines
    std::map<std::string, std::unique_ptr<Collection>> collections_;
    std::map<uint64_t, uint64_t> daemon_drops_seen_, own_drops_seen_;
    uint64_t write_errors_ = 0;

    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

} // namespace probed
