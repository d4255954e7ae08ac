#include "daemon/collection.h"

#include "common/remote_ptr.h"
#include "common/unique_fd.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace probed {

namespace {

Result<void> write_atomically(const std::string& path, const std::string& text) {
    std::string tmp = path + ".tmp";
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
    if (!fd.valid()) return Error::from_errno("open " + tmp);
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Error::from_errno("write " + tmp);
        done += static_cast<size_t>(n);
    }
    // Without the fsync a crash after the rename can leave an empty file.
    if (::fsync(fd.get()) != 0) return Error::from_errno("fsync " + tmp);
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) return Error::from_errno("rename " + tmp);
    return {};
}

} // namespace

Collection::Collection(std::string dir, CollectSpec spec, RotationPolicy rotation)
    : dir_(std::move(dir)), spec_(std::move(spec)), rotation_(rotation) {}

Result<Collection> Collection::load(const std::string& dir, RotationPolicy rotation) {
    std::string name = dir.substr(dir.rfind('/') + 1);
    CollectSpec spec;
    spec.name = name;
    Collection c(dir, spec, rotation);
    std::string path = dir + "/" + kStatsFile;
    std::ifstream in(path);
    if (!in) return c;
    std::stringstream text;
    text << in.rdbuf();
    auto damaged = [&](const std::string& why) -> Result<Collection> {
        std::string moved = path + ".bad";
        std::rename(path.c_str(), moved.c_str());
        return make_error(ErrorKind::InvalidArgument, path + ": " + why + " (moved to " + moved + ")");
    };
    rpc::json j = rpc::json::parse(text.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return damaged("not a JSON object");
    CollectSpec saved;
    if (auto err = parse_collect_spec(j.value("collect", rpc::json::object()), name, saved)) return damaged(err->message);
    auto agg = CallAggregates::from_json(j.value("aggregates", rpc::json::object()));
    if (!agg) return damaged(agg.error().message);
    c.spec_ = saved;
    c.aggregates_ = std::move(*agg);
    return c;
}

std::string Collection::call_line(const CallEvent& ev, const CollectSpec& spec, uint64_t wall_ns, bool error) {
    rpc::json j = {{"time_ns", wall_ns}, {"collection", spec.name}, {"probe_id", ev.probe_id},
                   {"pid", ev.pid},      {"tid", ev.tid},           {"function", ev.function}};
    if (ev.duration_ns) j["duration_ns"] = *ev.duration_ns;
    j["exit"] = exit_kind_name(ev.exit.value_or(ExitKind::Return));
    if (ev.retval && ev.exit.value_or(ExitKind::Return) == ExitKind::Return) {
        int64_t v = retval_as(spec.type, *ev.retval);
        if (spec.type == RetvalType::ULong) j["retval"] = static_cast<uint64_t>(v);
        else j["retval"] = v;
        j["retval_hex"] = hex_address(*ev.retval);
        j["error"] = error;
    }
    if (ev.float_retval) j["float_retval"] = *ev.float_retval;
    j["args"] = ev.args;
    return j.dump(-1, ' ', false, rpc::json::error_handler_t::replace) + '\n';
}

Result<void> Collection::record(const CallEvent& ev, uint64_t wall_ns) {
    bool error = aggregates_.add(ev, spec_, wall_ns);
    dirty_ = true;
    if (!store_) {
        auto store = JsonlStore::open(dir_, rotation_);
        if (!store) return store.error();
        store_.emplace(std::move(*store));
    }
    return store_->append(call_line(ev, spec_, wall_ns, error));
}

Result<void> Collection::flush() {
    return store_ ? store_->flush() : Result<void>{};
}

Result<void> Collection::save() {
    if (!dirty_) return {};
    PROBED_TRY(make_dirs(dir_));
    rpc::json collect = {{"name", spec_.name}, {"retval", retval_type_name(spec_.type)}};
    if (spec_.error_if) collect["error_if"] = spec_.error_if->text();
    rpc::json j = {{"version", 1}, {"collect", collect}, {"aggregates", aggregates_.to_json(spec_)}};
    PROBED_TRY(write_atomically(dir_ + "/" + kStatsFile, j.dump(1) + '\n'));
    dirty_ = false;
    return {};
}

} // namespace probed
