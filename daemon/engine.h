#pragma once
// The probing engine: attaches to processes, arms probes, and turns tracee
// stops into CallEvents. Every ptrace and waitpid call for its tracees is made
// by the thread that owns the Engine (ptrace requires the attaching thread).
//
// The owning thread must block SIGCHLD before creating the Engine, and so must
// every thread of the program, since tracee stops are noticed through a
// signalfd (block it in main() before starting threads).
#include "common/result.h"
#include "common/unique_fd.h"
#include "daemon/event_queue.h"
#include "daemon/pending_writes.h"
#include "daemon/probe.h"
#include "daemon/stack_frame.h"
#include "daemon/tracee.h"
#include "daemon/wait_status.h"

#include <sys/types.h>

#include <csignal>
#include <deque>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace probed {

struct ResolvedTarget;
struct SpawnIdentity {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
};
struct ProgramView;
struct MapEntry;

struct SpawnOptions {
    std::vector<std::string> env; // empty: inherit ours
    std::string cwd;              // empty: inherit ours
    // Paths opened for the child's standard streams (empty: inherit ours).
    // stdout/stderr are created if missing and appended to.
    std::string stdin_path;
    std::string stdout_path;
    std::string stderr_path;
    // Run the program as this identity instead of the daemon's (a client
    // that is not the daemon's user). Set in the child before anything else,
    // so the paths above are opened with the client's rights, and with
    // no_new_privs so a setuid program cannot gain privileges under us.
    std::optional<SpawnIdentity> identity;
};

struct ProcessSummary {
    pid_t pid = 0;
    size_t threads = 0;
    bool spawned = false;
    bool held = false; // spawned and not yet resumed
    // Our breakpoints in its memory now, the engine's own (unwinder hooks)
    // included: 0 means the program runs untouched.
    size_t breakpoints = 0;
};

struct EngineCounters {
    uint64_t stops = 0;       // every tracee stop handled
    uint64_t entry_hits = 0;
    uint64_t return_hits = 0;
    uint64_t steps = 0;       // single-steps of stepped slots
    // x86_64 entry stubs (docs/hit_cost.md): entry hits handed to a stub to
    // hijack the return in the tracee, and those whose return address was
    // not the stub's (a third stop, the tracer hijacks). Tests use them to
    // prove stubs serve the calls they should and are given up where they
    // miss.
    uint64_t stub_entries = 0;
    uint64_t stub_misses = 0;
    // Threads a detach found inside our page (in a slot, or on the return
    // trampoline before its trap ran) and moved out: tests use it to prove
    // they detached under fire, not only between calls.
    uint64_t detach_in_page = 0;
    // Calls pending at a detach in frames that keep a signed copy of the
    // trampoline address (arm64 with pointer authentication), re-signed
    // with the true return address by the tracee: tests use it to prove the
    // CPU really signed return addresses and that the calls need nothing of
    // ours after the detach.
    uint64_t signed_at_detach = 0;
    // The same in fork children released with the forking thread's frames.
    uint64_t signed_in_fork_children = 0;
    // Of both, the calls whose signed copy was in x30 with an authentication
    // code of 0, reading as the plain trampoline address: the code ahead of
    // the thread's PC said it was signed (arch::host::link_register_state).
    uint64_t zero_code_link_registers = 0;
    // Calls whose signed copy failed the check, which a detach left to
    // return through the stub it put at the trampoline (its page stays).
    uint64_t detached_returns = 0;
    // Fork children released with such calls pending, their copy of the
    // trampoline rewritten the same way.
    uint64_t detached_fork_children = 0;
    // Signed copies of the trampoline address (arm64 pointer authentication)
    // the tracee signed the true return address for, while the program's
    // unwinder walked: tests use it to prove the CPU really signed.
    uint64_t signed_for_unwind = 0;
    // Runs of the signing stub (each a resume and a stop of the thread) for
    // the unwinder, a detach and fork children: what the signing costs.
    uint64_t signing_stub_runs = 0;
    // The program's SIGTRAP action read by an injected rt_sigaction, and
    // written back after a trap of ours made the kernel reset it
    // (daemon/sigtrap_disposition.h).
    uint64_t sigtrap_reads = 0;
    uint64_t sigtrap_restores = 0;
};

// A stub that misses on more than half its calls (a function called from
// many places) costs a third stop on those calls: after this many misses it
// is no longer used, and the site's calls are hijacked by the tracer again.
inline constexpr uint32_t kEntryStubMissesBeforeJudging = 32;

class RemoteSyscall;

class Engine {
public:
    explicit Engine(EventQueue& events);
    ~Engine(); // detaches from every process still traced
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Starts argv[0] (PATH searched) held before main, with every shared
    // object loaded, so probes can be armed before any user code runs.
    Result<pid_t> spawn(const std::vector<std::string>& argv, const SpawnOptions& opts = {});
    // Lets a spawned process run.
    Result<void> resume(pid_t pid);
    // PTRACE_SEIZEs every thread of a running process (and, via
    // PTRACE_O_TRACECLONE, every thread it creates later).
    Result<void> attach(pid_t pid);
    // Removes every breakpoint, restores every hijacked return address,
    // unmaps our pages and lets go; the process keeps running.
    Result<void> detach(pid_t pid);
    void detach_all();

    // Fork children of `pid` (and theirs) stay traced with the same probes;
    // their events carry the child's pid. Off by default: children are
    // scrubbed of our breakpoints and let go.
    Result<void> set_follow_children(pid_t pid, bool follow);
    Result<ProbeInfo> add_probe(const ProbeSpec& spec);
    Result<void> remove_probe(uint64_t probe_id);
    std::vector<ProbeInfo> list_probes() const;
    // Tracee memory as the program sees it: our breakpoints hidden.
    Result<std::vector<uint8_t>> read_memory(pid_t pid, uint64_t addr, size_t len);
    // The call stack of one thread (default: the main thread), innermost
    // first. A running thread is stopped for it and resumed as it was.
    Result<StackTrace> stack(pid_t pid, std::optional<pid_t> tid = std::nullopt);
    std::vector<pid_t> list_processes() const;
    std::vector<ProcessSummary> process_summaries() const;
    bool tracing(pid_t pid) const { return procs_.count(pid) != 0; }
    bool tracing_any() const { return !procs_.empty(); }
    // Raw wait status of a traced process that has ended.
    std::optional<int> exit_status(pid_t pid) const;

    // Waits up to timeout_ms for a tracee stop and handles it; returns the
    // number handled (0 or 1; call again to drain). With -1 it blocks in
    // waitpid until a stop or until kWakeSignal reaches the owning thread
    // (TracerThread sends it), the lowest-latency mode.
    int pump(int timeout_ms);
    // Interrupts a pump(-1) when sent to the owning thread: the Engine
    // installs a handler for it without SA_RESTART, so waitpid returns EINTR.
    static constexpr int kWakeSignal = SIGUSR2;
    const EngineCounters& counters() const { return counters_; }

private:
    friend class RemoteSyscall;

    // lifecycle (engine.cpp)
    ProcessState* find_process(pid_t pid);
    ProcessState* owner_of(pid_t tid);
    Result<void> init_process(ProcessState& proc);
    // Seizes every thread of `p` and stops each once, so that no thread
    // creation begun before its creator was seized is still under way;
    // `held` gets each stopped thread with the stop to dispatch when it is
    // let go (release_thread).
    Result<void> seize_every_thread(ProcessState& p,
                                    std::vector<std::pair<pid_t, std::optional<WaitStatus>>>& held);
    void forget_process(pid_t pid, int status);
    void add_thread(ProcessState& proc, pid_t tid, bool expect_initial_stop);
    // Nothing reports a main thread's pthread_exit (its exit comes after
    // every other thread's): before reading the process's /proc files for
    // a request, look whether the leader is a zombie, and let it go then.
    // Not on a hit's path: letting the leader go may retire the unwinder
    // hooks, the site being handled among them (reads there go through
    // process_maps.h instead).
    void notice_leader_left(ProcessState& proc);
    void remove_thread(ProcessState& proc, pid_t tid);

    // stop dispatch (engine_stops.cpp)
    void dispatch(pid_t tid, WaitStatus st);
    void on_signal_stop(ProcessState& proc, ThreadState& t, int sig);
    void on_event_stop(ProcessState& proc, ThreadState& t, int event);
    void on_exec(ProcessState& proc, pid_t tid);
    void resume_thread(ThreadState& t, int sig = 0);
    void emit(CallEvent ev);

    // hits (engine_hits.cpp)
    // Tracee memory as the architecture's simulator and hijack read it.
    static arch::WordReader reader_for(ProcMem& mem);
    void on_entry_hit(ProcessState& proc, ThreadState& t, ProbeSite& site, arch::host::Regs& regs);
    void on_return_hit(ProcessState& proc, ThreadState& t, arch::host::Regs& regs);
    // The return part of on_return_hit, without resuming: reports the call
    // and sends the thread to its true return address.
    enum class ReturnOutcome { Resume, NoFrame, Gone };
    ReturnOutcome complete_return(ProcessState& proc, ThreadState& t, arch::host::Regs& regs);
    void on_step_done(ProcessState& proc, ThreadState& t);
    void report_return(ProcessState& proc, ThreadState& t, const ShadowFrame& f,
                       std::optional<ExitKind> exit, const arch::host::Regs* regs, uint64_t now);
    // Executes the displaced instruction of `site` (simulated, or by
    // resuming in its slot) and resumes the thread.
    void run_displaced(ProcessState& proc, ThreadState& t, const ProbeSite& site,
                       const arch::host::Regs& trapped, arch::host::Regs& regs,
                       PendingWrites writes);
    // The displaced instruction faults in place: make `ours` (the return
    // hijack), then deliver the CPU's signal at the probed address.
    void deliver_fault(ProcessState& proc, ThreadState& t, const ProbeSite& site,
                       const arch::host::Regs& trapped, const arch::host::Regs& at_insn,
                       PendingWrites ours, int signal, int code, uint64_t address);
    // Back at a re-entry point: whether this is the interrupted call
    // (its handler returned) rather than a new call at the same place.
    bool resumes_interrupted_call(ProcessState& proc, ThreadState& t, const ProbeSite& site,
                                  const arch::host::Regs& regs);
    // A thread about to get a signal (a fault its displaced instruction
    // raised, or any other) leaves our page for where the program would be.
    void leave_slot_for_signal(ProcessState& proc, ThreadState& t, arch::host::Regs& regs);
    // The same for a thread whose displaced instruction (of the probe at
    // `site`) has not run: it goes back to the original address, where the
    // handler returns and the breakpoint is hit a second time, for the same
    // call (a re-entry point at `sp`).
    void reenter_at_site(ThreadState& t, uint64_t site, uint64_t sp);

    // entry stubs (engine_stubs.cpp; docs/hit_cost.md)
    // Whether this hit's return hijack can be left to the site's stub.
    bool stub_serves(const ProbeSite& site) const;
    // Makes `site`'s stub for calls returning to frame.return_address, if it
    // can have one.
    void make_entry_stub(ProcessState& proc, ProbeSite& site, const ShadowFrame& frame);
    // The site whose stub's miss trap is at `bp`, or whose stub holds `pc`.
    ProbeSite* site_of_stub_trap(ProcessState& proc, uint64_t bp);
    ProbeSite* site_of_stub_holding(ProcessState& proc, uint64_t pc);
    // A call that did not return where the stub expects: hijack it here.
    void on_stub_miss(ProcessState& proc, ThreadState& t, ProbeSite& site, arch::host::Regs& regs);
    // Takes a thread out of a stub (for a signal handler, or a detach):
    // true if it was in one.
    bool leave_entry_stub(ProcessState& proc, ThreadState& t, arch::host::Regs& regs);
    void release_entry_stub(ProcessState& proc, ProbeSite& site, const std::vector<pid_t>& live);

    // probes and pages (engine_probes.cpp)
    Result<uint64_t> map_page_near(ProcessState& proc, uint64_t near);
    // Places insn in a slot; the architecture may change its strategy there
    // (arm64 steps an instruction whose slot is out of reach of a branch back).
    Result<uint64_t> slot_for(ProcessState& proc, arch::host::DecodedInsn& insn);
    // The trampoline a call returning to `target` gets: its dedicated one,
    // made now in a free slot if there is room, else the generic one.
    uint64_t trampoline_for_return(ProcessState& proc, uint64_t target);
    // The trampoline to put in place of `found`, the return address of a
    // call entered with stack pointer entry_sp; fills in frame's true
    // return address and trampoline. `dead`: frames this hit found ended.
    uint64_t hijack_return_to(ProcessState& proc, const ThreadState& t, ShadowFrame& frame,
                              uint64_t found, uint64_t entry_sp, const std::vector<ShadowFrame>& dead);
    // The site at target.address, armed now if it is new; `label` names the
    // target in errors.
    Result<ProbeSite*> arm_site(ProcessState& proc, const ResolvedTarget& target,
                                const std::string& label);
    // Arms probe `id` (in probes_) at `target` and fills in where it went.
    Result<void> place_probe(ProcessState& proc, uint64_t id, const ResolvedTarget& target);
    void refresh_site(ProbeSite& site);
    // Mapped: the original bytes are written back. Unmapped: the code is
    // gone (dlclose), so nothing is written and no trap can be pending there.
    enum class SiteMemory { Mapped, Unmapped };
    void drop_site(ProcessState& proc, uint64_t address, SiteMemory memory = SiteMemory::Mapped);
    ProbeInfo info_with_counters(const ProbeRecord& rec) const;

    // keeping the program's unwinder off our trampoline (engine_unwind.cpp)
    void arm_unwind_hooks(ProcessState& proc);
    // `regs` are the thread's at the hook (an entry hit); a hijacked return
    // address still in a register is put back there. False when arming a
    // site for it ended the process, its program (exec) or this site: the
    // hit has nothing left to handle (with only the site gone, the thread
    // is left as it was, to run the program's instruction).
    bool on_unwind_hook(ProcessState& proc, ThreadState& t, const ProbeSite& site,
                        arch::host::Regs& regs);
    void restore_for_unwind(ProcessState& proc, ThreadState& t, arch::host::Regs& regs);
    // The signed copies of the trampoline address (arm64 pointer
    // authentication) in the frames `searched` marks get the true return
    // address, signed by the tracee (engine_unwind_signed.cpp).
    void restore_signed_for_unwind(ProcessState& proc, ThreadState& t, arch::host::Regs& regs,
                                   StackBounds& stacks, const std::vector<bool>& searched);
    void rehijack_alive(ProcessState& proc, ThreadState& t, arch::host::Regs& regs, uint64_t sp,
                        uint64_t now);
    void drop_finished_sites(ProcessState& proc);
    // Removes the hooks once no return probe and no hijacked frame is left
    // in the process; otherwise, with no return probe left, marks them
    // retiring so the last frame's end tries again.
    void retire_unwind_hooks(ProcessState& proc);
    // Forgets (without writing to it) every hook site in code no longer
    // mapped, and the modules no longer loaded, so a later dlopen of the same
    // library is searched again.
    void forget_unmapped_hooks(ProcessState& proc, const std::vector<MapEntry>& maps);
    ExitKind abandoned_exit(const ThreadState& t) const {
        return t.unwinding ? ExitKind::Exception : ExitKind::Longjmp;
    }

    // exec (engine_exec.cpp)
    void end_probes_at_exec(ProcessState& proc);
    void rearm_at_entry(ProcessState& proc, ThreadState& t);

    // fork children (engine_fork.cpp)
    void on_fork(ProcessState& proc, ThreadState& parent, pid_t child, bool vfork);
    // Puts the child's memory back as the program's and lets it go.
    void scrub_fork_child(ProcessState& proc, const ThreadState& parent, pid_t child);
    // The memory part; `held_signal` gets a signal for the program that
    // arrived while the child ran our signing stub, to deliver at the end.
    void scrub_fork_memory(ProcessState& proc, const ThreadState& parent, pid_t child,
                           int& held_signal);
    bool adopt_fork_child(ProcessState& proc, const ThreadState& parent, pid_t child);
    void release_idle_followers();

    // stacks (engine_stack.cpp)
    Result<StackTrace> unwind_view(ProcessState& proc, ThreadState& t, const ProgramView& view);
    // With the process's unwinder, made for the /proc files of `files` if
    // there is none.
    Result<StackTrace> unwind_with(ProcessState& proc, ThreadState& t, const ProgramView& view,
                                   pid_t files);
    // The stack at an entry hit (capture.stack); null if it cannot be unwound.
    std::shared_ptr<const StackTrace> capture_stack(ProcessState& proc, ThreadState& t,
                                                    const arch::host::Regs& regs);

    // the program's SIGTRAP action (engine_sigtrap.cpp). Each returns
    // false when the thread was lost under injected code (its end is
    // dispatched next).
    // At a trap of ours, before the thread runs again.
    bool keep_sigtrap_at_trap(ProcessState& proc, ThreadState& t);
    // At a stop no trap of ours caused, with `t` held where code can run.
    bool keep_sigtrap_at_rest(ProcessState& proc, ThreadState& t);
    // `seen`: the kind /proc shows, which the read must not change.
    bool read_sigtrap_action(ProcessState& proc, ThreadState& t, SigtrapKind seen);
    // Sets the kept action from a copy written at `at` (readable by the
    // tracee), by default a slot of our page; for SIG_IGN, as the scope's
    // last call.
    bool write_sigtrap_action(ProcessState& proc, RemoteSyscall& scope,
                              std::optional<uint64_t> at = std::nullopt);
    // The scope's last call, on `t`.
    void restore_sigtrap_at_detach(ProcessState& proc, ThreadState& t, RemoteSyscall& scope);

    // holding threads (engine_detach.cpp)
    // Stops `tid` (if running) and returns a stop that must be dispatched
    // once we let go of it, if the first stop was not our interrupt. A
    // ptrace event stop (the thread inside clone, exec...) is handled and
    // the thread stopped again, so that code can run on it; with
    // `events_too` false it is returned like a signal's stop (attach reads
    // the image at an exec's stop, before the process is set up).
    Result<std::optional<WaitStatus>> stop_thread(ProcessState& proc, ThreadState& t,
                                                  bool events_too = true);
    void release_thread(ProcessState& proc, pid_t tid, std::optional<WaitStatus> deferred);
    Result<void> stop_all_threads(ProcessState& proc);
    // The error for a probe whose process exec'd while it was being placed.
    static Error replaced_program(pid_t pid, const std::string& target);
    bool interrupted_on_our_trap(ProcessState& proc, pid_t tid);
    // waitpid for one thread, served first from the stops pump() reaped
    // ahead: a stop taken from the kernel is never waited for again.
    bool wait_tid(pid_t tid, int& raw);
    void reap_ready_stops();
    void move_out_of_slots(ProcessState& proc);
    // Puts back every hijacked return address it can find (the signed
    // copies re-signed by the tracee, daemon/signed_release.h); returns the
    // calls that will still return to the trampoline.
    std::vector<arch::DetachedReturn> restore_return_addresses(ProcessState& proc);
    // Turns the trampoline into a return path that needs no tracer for
    // `left` (daemon/detached_returns.h); returns the page that must stay
    // mapped (0: none could be made). `scope` (null if none could be had)
    // maps room for a table too big for the page.
    uint64_t leave_detached_returns(ProcessState& proc, RemoteSyscall* scope,
                                    const std::vector<arch::DetachedReturn>& left);

    EventQueue& events_;
    UniqueFd sigchld_fd_;
    std::map<pid_t, std::unique_ptr<ProcessState>> procs_;
    std::unordered_map<pid_t, pid_t> tid_owner_;
    std::map<uint64_t, ProbeRecord> probes_;
    std::map<pid_t, int> ended_;
    // Fork children whose first stop arrived before their parent's fork event.
    std::map<pid_t, WaitStatus> early_child_stops_;
    // Stops reaped but not dispatched yet, oldest first (see pump()).
    std::deque<std::pair<pid_t, int>> ready_stops_;
    uint64_t next_probe_id_ = 1;
    EngineCounters counters_;
};

} // namespace probed
