#pragma once
// One named collection under the state dir: the calls of every probe
// collected under that name, appended to DIR/NAME/calls*.jsonl, and their
// aggregates, saved to DIR/NAME/stats.json (write a temporary file, fsync,
// rename: a crash leaves the old or the new file, never half of one).
// Not thread-safe: the Collector serialises access.
#include "common/jsonrpc.h"
#include "common/result.h"
#include "daemon/call_aggregates.h"
#include "daemon/call_event.h"
#include "daemon/collect_spec.h"
#include "daemon/jsonl_store.h"

#include <optional>
#include <string>

namespace probed {

class Collection {
public:
    static constexpr const char* kStatsFile = "stats.json";

    Collection(std::string dir, CollectSpec spec, RotationPolicy rotation);

    // Reads DIR/stats.json if there is one (the spec comes from the file
    // unless one is set later). A damaged file is renamed to stats.json.bad
    // and reported; the collection then starts from zero.
    static Result<Collection> load(const std::string& dir, RotationPolicy rotation);

    // Counts the call and appends its line (buffered).
    Result<void> record(const CallEvent& ev, uint64_t wall_ns);
    Result<void> flush();
    // Writes stats.json if anything changed since the last save.
    Result<void> save();

    void set_spec(const CollectSpec& spec) { spec_ = spec; dirty_ = true; }
    void add_dropped(uint64_t n) { aggregates_.dropped += n; dirty_ = n ? true : dirty_; }
    const CollectSpec& spec() const { return spec_; }
    const CallAggregates& aggregates() const { return aggregates_; }
    const std::string& dir() const { return dir_; }

    // One JSON Lines record for a completed call.
    static std::string call_line(const CallEvent& ev, const CollectSpec& spec, uint64_t wall_ns, bool error);

private:
    std::string dir_;
    CollectSpec spec_;
    RotationPolicy rotation_;
    CallAggregates aggregates_;
    std::optional<JsonlStore> store_; // opened at the first call
    bool dirty_ = false;
};

} // namespace probed
