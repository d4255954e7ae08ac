#pragma once
// The most frequent return values of a probe in bounded memory: the
// space-saving algorithm (Metwally, Agrawal, El Abbadi 2005). It keeps
// `capacity` counters; a value not tracked replaces the smallest counter and
// inherits its count as an upper bound on its over-count. Any value seen more
// than total/capacity times is guaranteed to be tracked, and for every
// tracked value  count - error <= true count <= count.
#include "common/jsonrpc.h"
#include "common/result.h"

#include <cstdint>
#include <vector>

namespace probed {

class TopValues {
public:
    struct Entry {
        int64_t value = 0;
        uint64_t count = 0;
        uint64_t error = 0; // count may exceed the true count by at most this
    };

    explicit TopValues(size_t capacity = 32) : capacity_(capacity ? capacity : 1) {}

    void add(int64_t value, uint64_t n = 1);
    // Most frequent first (ties: smaller value first), at most `limit`.
    std::vector<Entry> top(size_t limit) const;
    size_t capacity() const { return capacity_; }
    size_t tracked() const { return entries_.size(); }

    // [{"value", "count", "error"}, ...]
    rpc::json to_json(size_t limit) const;
    static Result<TopValues> from_json(const rpc::json& j, size_t capacity);

private:
    size_t capacity_;
    // Small (tens of entries): a linear scan beats a hash map plus heap here.
    std::vector<Entry> entries_;
};

} // namespace probed
