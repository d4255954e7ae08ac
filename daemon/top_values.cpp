#include "daemon/top_values.h"

#include <algorithm>

namespace probed {

void TopValues::add(int64_t value, uint64_t n) {
    for (Entry& e : entries_) {
        if (e.value == value) {
            e.count += n;
            return;
        }
    }
    if (entries_.size() < capacity_) {
        entries_.push_back({value, n, 0});
        return;
    }
    auto smallest = std::min_element(entries_.begin(), entries_.end(),
                                     [](const Entry& a, const Entry& b) { return a.count < b.count; });
    *smallest = {value, smallest->count + n, smallest->count};
}

std::vector<TopValues::Entry> TopValues::top(size_t limit) const {
    std::vector<Entry> out = entries_;
    std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
        return a.count != b.count ? a.count > b.count : a.value < b.value;
    });
    if (out.size() > limit) out.resize(limit);
    return out;
}

rpc::json TopValues::to_json(size_t limit) const {
    rpc::json out = rpc::json::array();
    for (const Entry& e : top(limit))
        out.push_back({{"value", e.value}, {"count", e.count}, {"error", e.error}});
    return out;
}

Result<TopValues> TopValues::from_json(const rpc::json& j, size_t capacity) {
    if (!j.is_array()) return make_error(ErrorKind::InvalidArgument, "top values: expected an array");
    TopValues t(capacity);
    for (const auto& e : j) {
        if (!e.is_object() || !e.contains("value") || !e["value"].is_number_integer() ||
            !e.contains("count") || !e["count"].is_number_unsigned())
            return make_error(ErrorKind::InvalidArgument, "top values: each entry needs value and count");
        Entry entry{e["value"].get<int64_t>(), e["count"].get<uint64_t>(),
                    e.value("error", uint64_t{0})};
        if (t.entries_.size() < t.capacity_) t.entries_.push_back(entry);
    }
    return t;
}

} // namespace probed
