#include "daemon/collector.h"

#include "common/monotonic_clock.h"

#include <dirent.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <ctime>

namespace probed {

namespace {

uint64_t realtime_ns() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

constexpr size_t kBatch = 4096;

} // namespace

Collector::Collector(EventQueue& daemon_queue, CollectorOptions options)
    : daemon_queue_(daemon_queue), options_(std::move(options)), queue_(options_.queue) {}

Collector::~Collector() { stop(); }

Result<void> Collector::start() {
    PROBED_TRY(make_dirs(options_.state_dir));
    DIR* d = opendir(options_.state_dir.c_str());
    if (!d) return Error::from_errno("opendir " + options_.state_dir);
    while (dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (!is_valid_collection_name(name)) continue;
        std::string dir = options_.state_dir + "/" + name;
        struct stat st;
        if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        auto c = Collection::load(dir, options_.rotation);
        if (!c) {
            spdlog::error("collection {}: {}", name, c.error().message);
            collections_[name] = std::make_unique<Collection>(dir, CollectSpec{name, RetvalType::Long, {}},
                                                              options_.rotation);
            continue;
        }
        spdlog::info("collection {}: {} calls so far", name, c->aggregates().calls);
        collections_[name] = std::make_unique<Collection>(std::move(*c));
    }
    closedir(d);
    thread_ = std::thread([this] { run(); });
    return {};
}

void Collector::stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    thread_.join();
}

void Collector::collect_probe(uint64_t probe_id, pid_t pid, const CollectSpec& spec) {
    {
        std::lock_guard lock(data_mu_);
        Collection& c = collection_locked(spec.name);
        if (!(c.spec() == spec)) {
            if (c.aggregates().calls && c.spec().error_if_text() != spec.error_if_text())
                spdlog::info("collection {}: errors now counted with '{}' (were '{}')", spec.name,
                             spec.error_if_text(), c.spec().error_if_text());
            c.set_spec(spec);
        }
    }
    std::lock_guard lock(routes_mu_);
    routes_[probe_id] = Route{spec.name, pid, true};
}

void Collector::forget_probe(uint64_t probe_id) {
    std::lock_guard lock(routes_mu_);
    auto it = routes_.find(probe_id);
    if (it != routes_.end()) it->second.active = false;
}

void Collector::offer(const CallEvent& ev) {
    if (ev.type == EventType::Exit) {
        std::lock_guard lock(routes_mu_);
        for (auto& [id, r] : routes_)
            if (r.pid == ev.pid) r.active = false;
        return;
    }
    if (ev.type != EventType::Return) return;
    {
        std::lock_guard lock(routes_mu_);
        auto it = routes_.find(ev.probe_id);
        if (it == routes_.end()) return;
    }
    queue_.push(ev); // counted per probe when full (account_drops)
}

std::optional<std::string> Collector::collection_of(uint64_t probe_id) const {
    std::lock_guard lock(routes_mu_);
    auto it = routes_.find(probe_id);
    if (it == routes_.end()) return std::nullopt;
    return it->second.collection;
}

Collection& Collector::collection_locked(const std::string& name) {
    auto& slot = collections_[name];
    if (!slot) {
        CollectSpec spec;
        spec.name = name;
        slot = std::make_unique<Collection>(options_.state_dir + "/" + name, spec, options_.rotation);
    }
    return *slot;
}

void Collector::run() {
    pthread_setname_np(pthread_self(), "probed-collect");
    uint64_t last_save = monotonic_ns();
    std::vector<CallEvent> batch;
    while (true) {
        bool stopping = stopping_.load();
        batch.clear();
        if (auto first = queue_.pop_for(std::chrono::milliseconds(100))) {
            batch.push_back(std::move(*first));
            queue_.drain(batch, kBatch);
        }
        if (!batch.empty()) write_batch(batch);
        account_drops();
        uint64_t now = monotonic_ns();
        if (now - last_save >= options_.save_interval_ms * 1000000ull) {
            save_all();
            last_save = now;
        }
        // Leave only once the queue is empty after stop() was asked.
        if (stopping && batch.empty()) break;
    }
    save_all();
}

void Collector::write_batch(std::vector<CallEvent>& batch) {
    // ts_ns is CLOCK_MONOTONIC; the files want wall-clock time that still
    // means something after a reboot.
    uint64_t mono = monotonic_ns(), wall = realtime_ns();
    std::map<uint64_t, std::string> names;
    {
        std::lock_guard lock(routes_mu_);
        for (const CallEvent& ev : batch)
            if (auto it = routes_.find(ev.probe_id); it != routes_.end()) names[ev.probe_id] = it->second.collection;
    }
    std::lock_guard lock(data_mu_);
    std::set<Collection*> touched;
    for (const CallEvent& ev : batch) {
        auto name = names.find(ev.probe_id);
        if (name == names.end()) continue;
        Collection& c = collection_locked(name->second);
        uint64_t wall_ns = wall - std::min(wall, mono - std::min(mono, ev.ts_ns));
        if (auto r = c.record(ev, wall_ns); !r) {
            if (write_errors_++ % 1000 == 0) spdlog::error("collection {}: {}", c.spec().name, r.error().message);
        }
        touched.insert(&c);
    }
    // Flushed per batch: a reader (or a crash) sees at most one batch missing.
    for (Collection* c : touched)
        if (auto r = c->flush(); !r && write_errors_++ % 1000 == 0)
            spdlog::error("collection {}: {}", c->spec().name, r.error().message);
}

void Collector::account_drops() {
    auto daemon_drops = daemon_queue_.dropped_by_probe();
    auto own_drops = queue_.dropped_by_probe();
    std::map<uint64_t, std::string> names;
    {
        std::lock_guard lock(routes_mu_);
        for (const auto& [id, r] : routes_) names[id] = r.collection;
    }
    std::lock_guard lock(data_mu_);
    auto account = [&](const std::map<uint64_t, uint64_t>& totals, std::map<uint64_t, uint64_t>& seen) {
        for (const auto& [probe, total] : totals) {
            uint64_t& s = seen[probe];
            if (total == s) continue;
            auto name = names.find(probe);
            if (name == names.end()) continue; // not collected: keep the baseline
            collection_locked(name->second).add_dropped(total - s);
            s = total;
        }
    };
    account(daemon_drops, daemon_drops_seen_);
    account(own_drops, own_drops_seen_);
}

void Collector::save_all() {
    std::lock_guard lock(data_mu_);
    for (auto& [name, c] : collections_) {
        if (auto r = c->flush(); !r) spdlog::error("collection {}: {}", name, r.error().message);
        if (auto r = c->save(); !r) spdlog::error("collection {}: {}", name, r.error().message);
    }
}

rpc::json Collector::stats(const std::optional<std::string>& name) const {
    std::map<std::string, std::vector<uint64_t>> active_probes;
    std::map<std::string, std::set<pid_t>> pids;
    {
        std::lock_guard lock(routes_mu_);
        for (const auto& [id, r] : routes_) {
            if (!r.active) continue;
            active_probes[r.collection].push_back(id);
            pids[r.collection].insert(r.pid);
        }
    }
    rpc::json list = rpc::json::array();
    std::lock_guard lock(data_mu_);
    for (const auto& [n, c] : collections_) {
        if (name && n != *name) continue;
        rpc::json j = c->aggregates().to_json(c->spec());
        j["name"] = n;
        j["retval_type"] = retval_type_name(c->spec().type);
        j["error_if"] = c->spec().error_if ? rpc::json(c->spec().error_if_text()) : rpc::json(nullptr);
        j["probe_ids"] = active_probes[n];
        j["pids"] = pids[n];
        j["dir"] = c->dir();
        list.push_back(std::move(j));
    }
    return {{"collections", list},
            {"state_dir", options_.state_dir},
            {"queue", {{"capacity", queue_.capacity()}, {"waiting", queue_.size()}, {"dropped", queue_.dropped_total()}}},
            {"write_errors", write_errors_}};
}

} // namespace probed
