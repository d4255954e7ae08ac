#pragma once
// Keeps the probes of probes.d on the processes they select: attaches to
// matching processes already running and to those that exec later, adds the
// probes (owned by the daemon, collected), lets go of a process when it no
// longer matches, and on reload changes only what changed: a probe whose
// file, name and settings are the same keeps its probe id and never misses
// a call. Runs on the RPC thread; the engine work goes through the tracer.
#include "daemon/collector.h"
#include "daemon/probe_config.h"
#include "daemon/process_selector.h"
#include "daemon/rpc_methods.h"
#include "daemon/tracer_thread.h"

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace probed {

class ConfiguredProbes {
public:
    ConfiguredProbes(TracerThread& tracer, RpcMethods& methods, Collector& collector, std::string probes_dir);

    // Reads probes.d and applies it to every running process. A file with
    // errors is reported (file:line) and, if an earlier version of it was
    // valid, that version stays in force.
    void reload();
    // Looks at every process in /proc.
    void scan();
    // A process called exec (proc connector).
    void on_exec(pid_t pid);
    // A traced process ended.
    void on_exit(pid_t pid);
    // Probes whose target was not there yet (a library not loaded right
    // after exec) are retried for a short while.
    bool has_retries() const { return !retry_until_.empty(); }
    void retry();

    const std::vector<ConfigError>& errors() const { return errors_; }
    size_t applied_count() const;

private:
    struct Wanted {
        const ProbeFile* file;
        const ConfiguredProbe* probe;
    };
    // key: file path + '\n' + probe identity
    std::map<std::string, Wanted> wanted_for(const ProcessFacts& facts) const;
    void reconcile(pid_t pid, const std::map<std::string, Wanted>& wanted);

    TracerThread& tracer_;
    RpcMethods& methods_;
    Collector& collector_;
    std::string dir_;
    std::map<std::string, ProbeFile> files_; // by path
    std::vector<ConfigError> errors_;
    std::map<pid_t, std::map<std::string, uint64_t>> applied_; // pid -> key -> probe id
    std::set<pid_t> attached_by_us_;
    std::map<pid_t, std::set<std::string>> failed_;  // not retried until exec or reload
    std::map<pid_t, uint64_t> retry_until_;          // monotonic ns
};

} // namespace probed
