// Probes across exec: the old image, and with it every breakpoint, slot and
// hijacked return address, is gone. A probe either ends with a probe_lost
// event that says why, or (rearm_on_exec) is resolved again in the new image
// once its libraries are loaded: at the new entry point, before any of the
// new program's own code runs.
#include "daemon/engine.h"

#include "arch/host.h"
#include "common/monotonic_clock.h"
#include "daemon/symbol_resolver.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <climits>

namespace probed {

namespace host = arch::host;

namespace {

std::string executable_of(pid_t pid) {
    char buf[PATH_MAX] = {};
    std::string link = "/proc/" + std::to_string(pid) + "/exe";
    ssize_t n = readlink(link.c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("?");
}

CallEvent lost_event(const ProbeInfo& info, std::string reason) {
    CallEvent ev;
    ev.type = EventType::ProbeLost;
    ev.probe_id = info.id;
    ev.pid = info.pid;
    ev.function = info.symbol.empty() ? info.target : info.symbol;
    ev.address = info.address;
    ev.ts_ns = monotonic_ns();
    ev.reason = std::move(reason);
    return ev;
}

} // namespace

void Engine::end_probes_at_exec(ProcessState& proc) {
    std::string image = executable_of(proc.proc_files_tid());
    bool rearm = false;
    for (auto it = probes_.begin(); it != probes_.end();) {
        ProbeInfo& info = it->second.info;
        if (info.pid != proc.pid) {
            ++it;
            continue;
        }
        if (info.rearm_on_exec) {
            rearm = true;
            ++it;
            continue;
        }
        spdlog::info("probe {} lost: pid {} exec'd {}", info.id, proc.pid, image);
        emit(lost_event(info, "exec: pid " + std::to_string(proc.pid) + " now runs " + image));
        it = probes_.erase(it);
    }
    if (!rearm) return;
    // The new image's libraries are mapped by its dynamic loader, which runs
    // next: wait for it at the program's entry point.
    if (auto r = proc.breakpoints->insert(*proc.mem, proc.entry_point); r) {
        proc.rearm_pending = true;
        return;
    }
    for (auto it = probes_.begin(); it != probes_.end();) {
        if (it->second.info.pid != proc.pid) {
            ++it;
            continue;
        }
        emit(lost_event(it->second.info, "exec: cannot stop " + image + " at its entry point"));
        it = probes_.erase(it);
    }
}

void Engine::rearm_at_entry(ProcessState& proc, ThreadState& t) {
    proc.rearm_pending = false;
    (void)proc.breakpoints->remove(*proc.mem, proc.entry_point);
    if (!host::set_pc(t.tid, proc.entry_point)) return; // died; its exit comes next
    std::string image = executable_of(proc.proc_files_tid());
    // Held while pages for slots (and the trampoline) are mapped.
    t.run = ThreadState::Run::Stopped;
    std::vector<uint64_t> ids;
    for (const auto& [id, rec] : probes_)
        if (rec.info.pid == proc.pid) ids.push_back(id);
    bool any = false;
    for (uint64_t id : ids) {
        ProbeInfo& info = probes_.at(id).info;
        auto target = resolve_target(proc.pid, info.target, proc.proc_files_tid());
        Result<void> placed = target ? place_probe(proc, id, *target)
                                     : Result<void>(std::move(target).error());
        if (placed) {
            any = true;
            continue;
        }
        spdlog::info("probe {} lost after exec of {}: {}", id, image, placed.error().message);
        emit(lost_event(info, "exec: " + info.target + " not re-armed in " + image + ": " +
                                  placed.error().message));
        probes_.erase(id);
    }
    if (any && !proc.trampolines.any()) {
        if (auto page = map_page_near(proc, proc.entry_point); !page)
            spdlog::warn("pid {}: no page for the return trampoline after exec: {}", proc.pid,
                         page.error().message);
    }
    resume_thread(t);
}

} // namespace probed
