#pragma once
// Everything a collection remembers about its calls without keeping them:
// counts, errors (by the collection's predicate), abnormal exits, the most
// frequent return values and the latency histogram. Plain data plus the
// JSON shape used both by stats.get and by the persisted stats.json.
#include "common/jsonrpc.h"
#include "common/result.h"
#include "daemon/call_event.h"
#include "daemon/collect_spec.h"
#include "daemon/latency_histogram.h"
#include "daemon/top_values.h"

#include <cstdint>
#include <map>
#include <string>

namespace probed {

struct CallAggregates {
    static constexpr size_t kTopTracked = 32; // space-saving counters
    static constexpr size_t kTopShown = 10;

    uint64_t calls = 0;    // completed calls of any kind
    uint64_t returns = 0;  // calls that returned normally (have a return value)
    uint64_t errors = 0;   // returns matching the error predicate
    uint64_t dropped = 0;  // calls lost before they reached the collector
    std::map<std::string, uint64_t> abnormal; // exit kind ("longjmp", ...) -> calls
    TopValues top{kTopTracked};
    LatencyHistogram latency;
    uint64_t first_ns = 0; // wall clock (ns since the epoch) of the first/last call's entry
    uint64_t last_ns = 0;

    // Counts one completed call (a Return event); true if it is an error.
    bool add(const CallEvent& ev, const CollectSpec& spec, uint64_t wall_ns);

    // stats.get's shape, with p50/p99/mean; `type` decides how values print.
    rpc::json to_json(const CollectSpec& spec) const;
    // Reads what to_json wrote (extra fields ignored).
    static Result<CallAggregates> from_json(const rpc::json& j);
};

} // namespace probed
