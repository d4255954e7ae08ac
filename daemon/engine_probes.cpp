// Arming and disarming probes: symbol resolution, instruction
// classification, slot placement and the pages that hold the slots.
#include "daemon/engine.h"

#include "arch/host.h"
#include "common/remote_ptr.h"
#include "daemon/address_space_gap.h"
#include "daemon/proc_maps.h"
#include "daemon/proc_task.h"
#include "daemon/process_maps.h"
#include "daemon/remote_syscall.h"
#include "daemon/symbol_resolver.h"

#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <algorithm>

namespace probed {

namespace host = arch::host;

namespace {

constexpr uint64_t kPageSize = 4096;

// Reads up to `want` bytes of code at addr as the program sees it (our
// breakpoints hidden), stopping at the end of the mapping.
Result<std::vector<uint8_t>> read_code(ProcessState& proc, uint64_t addr, size_t want) {
    auto maps = read_process_maps(proc);
    if (!maps) return std::move(maps).error();
    const MapEntry* m = find_mapping(*maps, addr);
    if (!m || !m->executable())
        return make_error(ErrorKind::InvalidArgument,
                          hex_address(addr) + " is not in executable memory");
    size_t n = static_cast<size_t>(std::min<uint64_t>(want, m->end - addr));
    std::vector<uint8_t> code(n);
    PROBED_TRY(proc.mem->read(addr, code));
    proc.breakpoints->hide(addr, code);
    return code;
}

// name+0xOFF must land on an instruction boundary, or the breakpoint would
// corrupt an instruction in the middle (the architecture decodes from the
// symbol's start where instructions differ in length).
Result<void> check_boundary(ProcessState& proc, const ResolvedTarget& target) {
    if (target.offset == 0 || target.symbol.empty()) return {};
    uint64_t start = target.address - target.offset;
    auto code = read_code(proc, start, target.offset + host::kMaxInsnBytes);
    if (!code) return std::move(code).error();
    auto end = host::boundary_at_or_after(*code, start, target.offset);
    if (!end)
        return make_error(ErrorKind::InvalidArgument, "cannot decode " + target.symbol + " " +
                                                          end.error().message);
    uint64_t pos = *end;
    if (pos != target.offset)
        return make_error(ErrorKind::InvalidArgument,
                          target.symbol + "+" + hex_address(target.offset) +
                              " is inside an instruction (the one before ends at +" +
                              hex_address(pos) + ")");
    return {};
}

// The code right before a site as the program sees it, from the function's
// start when that is nearer, for classifiers that look back (arm64's
// exclusive-window scan). Empty at a function's first instruction.
std::vector<uint8_t> read_preceding(ProcessState& proc, const ResolvedTarget& target) {
    if (host::kPrecedingCodeBytes == 0) return {};
    uint64_t want = host::kPrecedingCodeBytes;
    if (!target.symbol.empty()) want = std::min<uint64_t>(want, target.offset);
    if (want == 0) return {};
    auto maps = read_process_maps(proc);
    if (!maps) return {};
    const MapEntry* m = find_mapping(*maps, target.address);
    if (!m) return {};
    want = std::min<uint64_t>(want, target.address - m->start);
    std::vector<uint8_t> code(want);
    if (!proc.mem->read(target.address - want, code)) return {};
    proc.breakpoints->hide(target.address - want, code);
    return code;
}

} // namespace

Result<uint64_t> Engine::map_page_near(ProcessState& proc, uint64_t near) {
    auto maps = read_process_maps(proc);
    if (!maps) return std::move(maps).error();
    const pid_t pid = proc.pid;
    pid_t tid = 0;
    bool was_held = false;
    Result<std::optional<WaitStatus>> deferred = std::optional<WaitStatus>{};
    while (true) {
        // The leader while it lives; a thread found gone as we stop it is
        // passed over. A main thread that left with pthread_exit, unnoticed
        // yet, is passed over without being let go (this runs on hits too:
        // see notice_leader_left).
        auto tit = proc.threads.find(pid);
        if (tit != proc.threads.end() && tit->second.run != ThreadState::Run::Stopped &&
            !proc.leader_exited && thread_exited(pid))
            tit = std::find_if(proc.threads.begin(), proc.threads.end(),
                               [pid](const auto& entry) { return entry.first != pid; });
        if (tit == proc.threads.end()) tit = proc.threads.begin();
        if (tit == proc.threads.end()) return make_error(ErrorKind::ProcessGone, "no threads left");
        tid = tit->first;
        // A thread we already hold (in the middle of handling its stop) stays held.
        was_held = tit->second.run == ThreadState::Run::Stopped;
        deferred = stop_thread(proc, tit->second);
        if (deferred) break;
        if (!find_process(pid) || proc.threads.count(tid)) return std::move(deferred).error();
    }
    uint64_t page = 0;
    Error failure = make_error(ErrorKind::Internal, "no free address range near " + hex_address(near));
    {
        auto scope = RemoteSyscall::begin(proc, proc.threads.at(tid));
        if (!scope) {
            failure = std::move(scope).error();
        } else {
            std::vector<uint64_t> taken;
            for (int attempt = 0; attempt < 8 && page == 0; ++attempt) {
                auto where = find_free_range_near(*maps, near, host::kNearDistance, kPageSize, taken);
                if (!where) break;
                auto r = scope->call(SYS_mmap, {*where, kPageSize, PROT_READ | PROT_EXEC,
                                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                                                ~0ull, 0});
                if (!r) {
                    failure = std::move(r).error();
                    break;
                }
                if (static_cast<uint64_t>(*r) == *where) page = *where;
                else if (*r == -EEXIST) taken.push_back(*where);
                else {
                    failure = make_error(ErrorKind::Internal, "injected mmap returned " +
                                                                  std::to_string(*r));
                    break;
                }
            }
        }
        if (scope && scope->lost_status()) deferred = std::optional<WaitStatus>(*scope->lost_status());
    }
    // The page is set up while the thread is still held: once it runs, it
    // may exec, and the page is gone with the old image.
    Result<void> setup;
    if (page != 0) {
        proc.slots->add_page(page);
        if (!proc.trampolines.any()) {
            // The return trampoline: a breakpoint in the first slot of our first page.
            proc.slots->reserve(page);
            setup = proc.mem->write(page, host::trampoline_bytes());
            if (setup) proc.trampolines.set_generic(page);
        }
    }
    if (!was_held || *deferred) release_thread(proc, tid, *deferred);
    // Letting go may have handled the process's end: `proc` is gone then.
    if (!find_process(pid)) return make_error(ErrorKind::ProcessGone, "process exited");
    if (page == 0) return failure;
    if (!setup) return std::move(setup).error();
    spdlog::debug("pid {}: mapped slot page at {:#x} near {:#x}", proc.pid, page, near);
    return page;
}

Result<uint64_t> Engine::slot_for(ProcessState& proc, host::DecodedInsn& insn) {
    auto slot = proc.slots->allocate(insn.address, host::kNearDistance);
    if (!slot) {
        const pid_t pid = proc.pid;
        auto page = map_page_near(proc, insn.address);
        // Stopping a thread for it may have handled the process's end.
        if (!find_process(pid)) return make_error(ErrorKind::ProcessGone, "process exited");
        if (page) slot = proc.slots->allocate(insn.address, host::kNearDistance);
        else if (host::needs_near_slot(insn)) return std::move(page).error();
        // Any page will do: the architecture jumps back from afar or steps.
        if (!slot) slot = proc.slots->allocate(insn.address, ~0ull);
        if (!slot) return make_error(ErrorKind::Internal, "no slot available");
    }
    auto strategy = host::strategy_in_slot(insn, *slot);
    if (!strategy) {
        proc.slots->release(*slot, {});
        return std::move(strategy).error();
    }
    insn.strategy = *strategy;
    auto code = host::build_slot(insn, *slot);
    if (!code) {
        proc.slots->release(*slot, {});
        return std::move(code).error();
    }
    if (auto w = proc.mem->write(*slot, *code); !w) {
        proc.slots->release(*slot, {});
        return std::move(w).error();
    }
    return *slot;
}

void Engine::refresh_site(ProbeSite& site) {
    site.any_entry = site.any_return = site.float_retval = site.any_stack = false;
    site.max_args = 0;
    for (uint64_t id : site.probe_ids) {
        const ProbeInfo& info = probes_.at(id).info;
        site.any_entry |= wants_entry_event(info.kind);
        site.any_return |= wants_return(info.kind);
        site.float_retval |= info.capture.float_retval;
        site.any_stack |= info.capture.stack;
        site.max_args = std::max(site.max_args, info.capture.args);
    }
}

Result<ProbeSite*> Engine::arm_site(ProcessState& proc, const ResolvedTarget& target,
                                    const std::string& label) {
    auto existing = proc.sites.find(target.address);
    if (existing != proc.sites.end()) return &existing->second;
    PROBED_TRY(check_boundary(proc, target));
    auto code = read_code(proc, target.address, host::kMaxInsnBytes);
    if (!code) return std::move(code).error();
    auto preceding = read_preceding(proc, target);
    auto insn = host::decode_site(*code, target.address, preceding);
    if (!insn)
        return make_error(ErrorKind::Unsupported, "cannot decode the instruction at " +
                                                      hex_address(target.address) + ": " +
                                                      insn.error().message);
    if (insn->strategy == arch::Strategy::Reject)
        return make_error(ErrorKind::Unsupported,
                          "cannot probe " + label + " at " + hex_address(target.address) + ": '" +
                              insn->text + "' " + insn->reject_reason);
    ProbeSite site;
    site.address = target.address;
    site.insn = *insn;
    site.function_entry = !target.symbol.empty() && target.offset == 0;
    const uint64_t image = proc.image_generation;
    if (insn->strategy != arch::Strategy::Simulate) {
        auto slot = slot_for(proc, site.insn);
        if (!slot) return std::move(slot).error();
        site.slot = *slot;
    }
    // Mapping a slot page stops a thread, which lets an exec it was inside
    // finish: the address belongs to the old image then, and a breakpoint
    // written there would land in the new program. (The slot went with the
    // old image's pages.)
    if (proc.image_generation != image) return replaced_program(proc.pid, label);
    if (auto r = proc.breakpoints->insert(*proc.mem, site.address); !r) {
        if (site.slot) proc.slots->release(site.slot, {});
        return std::move(r).error();
    }
    proc.retired_sites.erase(site.address);
    return &proc.sites.emplace(site.address, std::move(site)).first->second;
}

Result<ProbeInfo> Engine::add_probe(const ProbeSpec& spec) {
    ProcessState* proc = find_process(spec.pid);
    if (!proc)
        return make_error(ErrorKind::NotFound,
                          "pid " + std::to_string(spec.pid) + " is not traced (attach first)");
    if (spec.capture.args < 0 || spec.capture.args > host::kMaxIntArgs)
        return make_error(ErrorKind::InvalidArgument, "capture.args must be between 0 and " +
                                                          std::to_string(host::kMaxIntArgs));
    notice_leader_left(*proc);
    const pid_t files = process_files_tid(*proc);
    auto target = resolve_target(proc->pid, spec.target, files);
    // The thread whose files were read left meanwhile: they showed nothing.
    if (!target)
        if (const pid_t now = process_files_tid(*proc); now != files)
            target = resolve_target(proc->pid, spec.target, now);
    if (!target) return std::move(target).error();

    ProbeRecord rec;
    rec.info.id = next_probe_id_;
    rec.info.pid = spec.pid;
    rec.info.target = spec.target;
    rec.info.kind = spec.kind;
    rec.info.capture = spec.capture;
    rec.info.rearm_on_exec = spec.rearm_on_exec;
    if (spec.rearm_on_exec && parse_target(spec.target)->is_address)
        return make_error(ErrorKind::InvalidArgument,
                          "rearm_on_exec needs a symbolic target: an address means nothing in the "
                          "next program");

    uint64_t id = rec.info.id;
    probes_[id] = rec;
    if (auto r = place_probe(*proc, id, *target); !r) {
        probes_.erase(id);
        return std::move(r).error();
    }
    ++next_probe_id_;
    // Placing it stops threads, which may end the process, or finish an
    // exec that ends the process's probes, this one too (probe_lost).
    auto placed = probes_.find(id);
    if (placed == probes_.end() && !find_process(spec.pid))
        return make_error(ErrorKind::ProcessGone, "pid " + std::to_string(spec.pid) + " exited");
    if (placed == probes_.end()) return replaced_program(spec.pid, spec.target);
    return placed->second.info;
}

Error Engine::replaced_program(pid_t pid, const std::string& target) {
    return make_error(ErrorKind::NotFound, "pid " + std::to_string(pid) +
                                               " replaced its program (exec) while " + target +
                                               " was being placed");
}

Result<void> Engine::place_probe(ProcessState& proc, uint64_t id, const ResolvedTarget& target) {
    const std::string label = probes_.at(id).info.target;
    auto armed = arm_site(proc, target, label);
    if (!armed) return std::move(armed).error();
    auto record = probes_.find(id);
    if (record == probes_.end()) return replaced_program(proc.pid, label);
    ProbeInfo& info = record->second.info;
    ProbeSite& site = **armed;
    info.address = target.address;
    info.module = target.module;
    info.symbol = target.symbol;
    if (!target.symbol.empty() && target.offset != 0) info.symbol += "+" + hex_address(target.offset);
    info.strategy = site.insn.strategy;
    info.instruction = site.insn.text;
    site.probe_ids.push_back(id);
    refresh_site(site);
    spdlog::info("probe {}: pid {} {} at {:#x} ({}, '{}')", id, info.pid, info.target,
                 site.address, arch::strategy_name(site.insn.strategy), site.insn.text);
    if (site.any_return) {
        proc.unwind_hooks_retiring = false;
        if (!proc.unwind_hooks_armed) {
            proc.unwind_hooks_armed = true;
            arm_unwind_hooks(proc);
        }
    }
    return {};
}

void Engine::drop_site(ProcessState& proc, uint64_t address, SiteMemory memory) {
    auto it = proc.sites.find(address);
    if (it == proc.sites.end()) return;
    if (memory == SiteMemory::Unmapped) {
        proc.breakpoints->forget(address);
    } else {
        if (auto r = proc.breakpoints->remove(*proc.mem, address); !r)
            spdlog::warn("pid {}: removing breakpoint at {:#x}: {}", proc.pid, address,
                         r.error().message);
        proc.retired_sites.insert(address);
    }
    std::vector<pid_t> live;
    for (const auto& [tid, t] : proc.threads) live.push_back(tid);
    if (it->second.slot) proc.slots->release(it->second.slot, live);
    release_entry_stub(proc, it->second, live);
    proc.sites.erase(it);
}

Result<void> Engine::remove_probe(uint64_t probe_id) {
    auto it = probes_.find(probe_id);
    if (it == probes_.end())
        return make_error(ErrorKind::NotFound, "no probe " + std::to_string(probe_id));
    uint64_t address = it->second.info.address;
    probes_.erase(it);
    // Its process, and any fork children following it, have it at `address`.
    bool followers = false;
    for (auto& [pid, proc] : procs_) {
        auto sit = proc->sites.find(address);
        if (sit == proc->sites.end()) continue;
        auto& ids = sit->second.probe_ids;
        auto gone = std::remove(ids.begin(), ids.end(), probe_id);
        if (gone == ids.end()) continue;
        ids.erase(gone, ids.end());
        followers |= proc->followed_from != 0;
        if (ids.empty() && sit->second.hook == UnwindHook::None) drop_site(*proc, address);
        else refresh_site(sit->second);
        retire_unwind_hooks(*proc); // if that was its last return probe
    }
    if (followers) release_idle_followers();
    return {};
}

Result<void> Engine::set_follow_children(pid_t pid, bool follow) {
    ProcessState* proc = find_process(pid);
    if (!proc)
        return make_error(ErrorKind::NotFound, "pid " + std::to_string(pid) + " is not traced");
    proc->follow_children = follow;
    return {};
}

Result<std::vector<uint8_t>> Engine::read_memory(pid_t pid, uint64_t addr, size_t len) {
    ProcessState* proc = find_process(pid);
    if (!proc)
        return make_error(ErrorKind::NotFound, "pid " + std::to_string(pid) + " is not traced");
    std::vector<uint8_t> buf(len);
    PROBED_TRY(proc->mem->read(addr, buf));
    proc->breakpoints->hide(addr, buf);
    return buf;
}

ProbeInfo Engine::info_with_counters(const ProbeRecord& rec) const {
    ProbeInfo info = rec.info;
    info.dropped = events_.dropped(info.id);
    return info;
}

std::vector<ProbeInfo> Engine::list_probes() const {
    std::vector<ProbeInfo> out;
    for (const auto& [id, rec] : probes_) out.push_back(info_with_counters(rec));
    return out;
}

} // namespace probed
