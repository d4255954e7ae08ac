#include "daemon/configured_probes.h"

#include "common/monotonic_clock.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

namespace probed {

namespace {

// Right after exec the dynamic loader has not mapped the libraries yet.
constexpr uint64_t kRetryWindowNs = 3'000'000'000ull;

struct PlanResult {
    Result<void> attach;
    bool attached = false;
    bool detached = false;
    std::vector<uint64_t> removed;
    std::vector<std::pair<std::string, Result<ProbeInfo>>> added;
};

} // namespace

ConfiguredProbes::ConfiguredProbes(TracerThread& tracer, RpcMethods& methods, Collector& collector,
                                   std::string probes_dir)
    : tracer_(tracer), methods_(methods), collector_(collector), dir_(std::move(probes_dir)) {}

size_t ConfiguredProbes::applied_count() const {
    size_t n = 0;
    for (const auto& [pid, keys] : applied_) n += keys.size();
    return n;
}

void ConfiguredProbes::reload() {
    ProbesDir loaded = load_probes_dir(dir_);
    std::map<std::string, ProbeFile> next;
    for (auto& f : loaded.files) next[f.path] = std::move(f);
    errors_ = loaded.errors;
    for (const auto& e : errors_) {
        auto old = files_.find(e.path);
        if (old != files_.end()) {
            spdlog::error("config {} (keeping its previous version)", e.text());
            next[e.path] = old->second;
        } else {
            spdlog::error("config {}", e.text());
        }
    }
    size_t probes = 0;
    for (const auto& [path, f] : next) probes += f.probes.size();
    spdlog::info("probes.d {}: {} files, {} probes, {} with errors", dir_, next.size(), probes, errors_.size());
    files_ = std::move(next);
    failed_.clear();
    scan();
}

std::map<std::string, ConfiguredProbes::Wanted> ConfiguredProbes::wanted_for(const ProcessFacts& facts) const {
    std::map<std::string, Wanted> out;
    if (facts.pid == getpid()) return out;
    for (const auto& [path, f] : files_) {
        if (!selector_matches(f.select, facts)) continue;
        for (const auto& p : f.probes) out.emplace(path + '\n' + p.identity, Wanted{&f, &p});
    }
    auto failed = failed_.find(facts.pid);
    if (failed != failed_.end())
        for (const auto& key : failed->second) out.erase(key);
    return out;
}

void ConfiguredProbes::scan() {
    // Nothing configured and nothing to take back: no walk of /proc (it costs
    // a read of every process's files, every interval).
    if (files_.empty() && applied_.empty() && failed_.empty()) return;
    std::set<pid_t> present;
    for (pid_t pid : list_pids()) {
        present.insert(pid);
        auto facts = read_process_facts(pid);
        if (!facts) continue;
        auto wanted = wanted_for(*facts);
        auto applied = applied_.find(pid);
        if (wanted.empty() && applied == applied_.end()) continue;
        // Unchanged: no trip to the tracer.
        if (applied != applied_.end() && wanted.size() == applied->second.size() &&
            std::equal(wanted.begin(), wanted.end(), applied->second.begin(),
                       [](const auto& a, const auto& b) { return a.first == b.first; }))
            continue;
        reconcile(pid, wanted);
    }
    for (auto it = failed_.begin(); it != failed_.end();)
        it = present.count(it->first) ? std::next(it) : failed_.erase(it);
}

void ConfiguredProbes::on_exec(pid_t pid) {
    // An exec we traced took the old image's probes with it: the engine
    // dropped them at the exec stop, and the kernel sends the notice only
    // after that stop (ptrace_event comes before proc_exec_connector). A
    // probe the engine still has was placed after the exec: the process was
    // found by a scan before its notice was read. It is on the new image
    // already and stays; adding it again would record every call twice.
    if (auto applied = applied_.find(pid); applied != applied_.end()) {
        std::set<uint64_t> live = tracer_.call([pid](Engine& e) {
            std::set<uint64_t> ids;
            for (const auto& p : e.list_probes())
                if (p.pid == pid) ids.insert(p.id);
            return ids;
        });
        for (auto it = applied->second.begin(); it != applied->second.end();) {
            if (live.count(it->second)) {
                ++it;
                continue;
            }
            methods_.release_probe(it->second);
            collector_.forget_probe(it->second);
            it = applied->second.erase(it);
        }
        if (applied->second.empty()) applied_.erase(applied);
    }
    failed_.erase(pid);
    retry_until_.erase(pid);
    auto facts = read_process_facts(pid);
    if (!facts) return;
    auto wanted = wanted_for(*facts);
    if (wanted.empty() && !applied_.count(pid)) return;
    spdlog::debug("exec of pid {} ({}) matches {} configured probes", pid, facts->exe, wanted.size());
    reconcile(pid, wanted);
}

void ConfiguredProbes::on_exit(pid_t pid) {
    for (const auto& [key, id] : applied_[pid]) {
        methods_.release_probe(id);
        collector_.forget_probe(id);
    }
    applied_.erase(pid);
    attached_by_us_.erase(pid);
    failed_.erase(pid);
    retry_until_.erase(pid);
}

void ConfiguredProbes::retry() {
    uint64_t now = monotonic_ns();
    auto pids = retry_until_;
    for (const auto& [pid, until] : pids) {
        auto facts = read_process_facts(pid);
        if (!facts) {
            retry_until_.erase(pid);
            continue;
        }
        reconcile(pid, wanted_for(*facts));
        if (now >= until) retry_until_.erase(pid);
    }
}

void ConfiguredProbes::reconcile(pid_t pid, const std::map<std::string, Wanted>& wanted) {
    std::map<std::string, uint64_t>& applied = applied_[pid];
    std::vector<std::pair<std::string, ProbeSpec>> to_add;
    for (const auto& [key, w] : wanted) {
        if (applied.count(key)) continue;
        ProbeSpec spec;
        spec.pid = pid;
        spec.target = w.probe->target;
        spec.kind = w.probe->kind;
        spec.capture = w.probe->capture;
        to_add.emplace_back(key, spec);
    }
    std::vector<std::pair<std::string, uint64_t>> to_remove;
    for (const auto& [key, id] : applied)
        if (!wanted.count(key)) to_remove.emplace_back(key, id);
    bool ours = attached_by_us_.count(pid) != 0;

    PlanResult r = tracer_.call([&](Engine& e) {
        PlanResult out;
        if (!e.tracing(pid) && !to_add.empty()) {
            out.attach = e.attach(pid);
            if (!out.attach) return out;
            out.attached = true;
        }
        for (const auto& [key, id] : to_remove)
            if (e.remove_probe(id)) out.removed.push_back(id);
        for (const auto& [key, spec] : to_add) out.added.emplace_back(key, e.add_probe(spec));
        if ((ours || out.attached) && e.tracing(pid)) {
            bool any = false;
            for (const auto& p : e.list_probes()) any |= p.pid == pid;
            if (!any) out.detached = static_cast<bool>(e.detach(pid));
        }
        return out;
    });

    if (!r.attach) {
        spdlog::warn("configured probes: cannot attach to pid {}: {}", pid, r.attach.error().message);
        for (const auto& [key, spec] : to_add) failed_[pid].insert(key);
        applied_.erase(pid);
        return;
    }
    if (r.attached) {
        attached_by_us_.insert(pid);
        spdlog::info("configured probes: attached to pid {}", pid);
    }
    for (const auto& [key, id] : to_remove) {
        applied.erase(key);
        methods_.release_probe(id);
        collector_.forget_probe(id);
        spdlog::info("configured probes: removed probe {} from pid {}", id, pid);
    }
    bool retrying = retry_until_.count(pid) != 0;
    for (auto& [key, result] : r.added) {
        const Wanted& w = wanted.at(key);
        if (!result) {
            // A symbol or library not loaded yet is worth a few more tries
            // after an exec or attach; anything else is reported once.
            bool early = result.error().kind == ErrorKind::NotFound;
            if (early && !retrying) {
                retry_until_[pid] = monotonic_ns() + kRetryWindowNs;
                retrying = true;
            }
            if (!early || monotonic_ns() >= retry_until_[pid]) {
                spdlog::error("configured probe {}:{} on pid {}: {}", w.file->path, w.probe->name, pid,
                              result.error().message);
                failed_[pid].insert(key);
            }
            applied.erase(key);
            continue;
        }
        applied[key] = result->id;
        methods_.adopt_probe(result->id, pid);
        collector_.collect_probe(result->id, pid, w.probe->collect);
        spdlog::info("configured probe {} ({}) on pid {}: probe {} at {}", w.probe->name, w.file->path, pid,
                     result->id, result->symbol);
    }
    if (r.detached) {
        attached_by_us_.erase(pid);
        spdlog::info("configured probes: let go of pid {} (no probes left)", pid);
    }
    if (applied.empty()) applied_.erase(pid);
}

} // namespace probed
