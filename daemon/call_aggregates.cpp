#include "daemon/call_aggregates.h"

#include <algorithm>

namespace probed {

bool CallAggregates::add(const CallEvent& ev, const CollectSpec& spec, uint64_t wall_ns) {
    ++calls;
    if (first_ns == 0) first_ns = wall_ns;
    last_ns = std::max(last_ns, wall_ns);
    if (ev.duration_ns) latency.add(*ev.duration_ns);
    if (ev.exit && *ev.exit != ExitKind::Return) {
        ++abnormal[exit_kind_name(*ev.exit)];
        return false;
    }
    if (!ev.retval) return false; // return value not captured
    ++returns;
    top.add(retval_as(spec.type, *ev.retval));
    bool error = spec.error_if && spec.error_if->matches(spec.type, *ev.retval);
    errors += error;
    return error;
}

rpc::json CallAggregates::to_json(const CollectSpec& spec) const {
    rpc::json top_json = rpc::json::array();
    for (const auto& e : top.top(kTopTracked)) {
        rpc::json value = e.value;
        // Unsigned types print as what they are, not as the int64 that stores them.
        if (spec.type == RetvalType::ULong) value = static_cast<uint64_t>(e.value);
        top_json.push_back({{"value", value}, {"count", e.count}, {"error", e.error}});
    }
    uint64_t mean = latency.count() ? latency.sum() / latency.count() : 0;
    return {{"calls", calls},
            {"returns", returns},
            {"errors", errors},
            {"dropped", dropped},
            {"abnormal", abnormal},
            {"top_values", top_json},
            {"latency_ns",
             {{"histogram", latency.to_json()},
              {"p50", latency.percentile(0.50)},
              {"p99", latency.percentile(0.99)},
              {"mean", mean},
              {"min", latency.min()},
              {"max", latency.max()}}},
            {"first_ns", first_ns},
            {"last_ns", last_ns}};
}

Result<CallAggregates> CallAggregates::from_json(const rpc::json& j) {
    auto bad = [](const std::string& why) {
        return make_error(ErrorKind::InvalidArgument, "aggregates: " + why);
    };
    if (!j.is_object()) return bad("expected an object");
    CallAggregates a;
    for (auto [key, field] : {std::pair{"calls", &a.calls}, {"returns", &a.returns}, {"errors", &a.errors},
                              {"dropped", &a.dropped}, {"first_ns", &a.first_ns}, {"last_ns", &a.last_ns}}) {
        if (!j.contains(key)) continue;
        if (!j[key].is_number_unsigned()) return bad(std::string("'") + key + "' must be a count");
        *field = j[key].get<uint64_t>();
    }
    if (j.contains("abnormal")) {
        if (!j["abnormal"].is_object()) return bad("'abnormal' must be an object");
        for (const auto& [kind, n] : j["abnormal"].items())
            if (n.is_number_unsigned()) a.abnormal[kind] = n.get<uint64_t>();
    }
    if (j.contains("top_values")) {
        // ULong values above INT64_MAX come back as unsigned JSON numbers.
        rpc::json values = j["top_values"];
        for (auto& v : values)
            if (v.is_object() && v.contains("value") && v["value"].is_number_unsigned())
                v["value"] = static_cast<int64_t>(v["value"].get<uint64_t>());
        auto top = TopValues::from_json(values, kTopTracked);
        if (!top) return top.error();
        a.top = std::move(*top);
    }
    if (j.contains("latency_ns")) {
        if (!j["latency_ns"].is_object() || !j["latency_ns"].contains("histogram"))
            return bad("'latency_ns' must hold a histogram");
        auto h = LatencyHistogram::from_json(j["latency_ns"]["histogram"]);
        if (!h) return h.error();
        a.latency = *h;
    }
    return a;
}

} // namespace probed
