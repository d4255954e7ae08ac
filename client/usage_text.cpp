#include "client/usage_text.h"

namespace probed::client {

namespace {

constexpr const char* kGlobal = R"(
Global options (before or after the command):
  --socket PATH    the daemon's socket (default: $PROBED_SOCKET, else
                   /run/probed/probed.sock for root, else $XDG_RUNTIME_DIR/probed.sock)
  --json           print one JSON object per line instead of text for people
  --no-autostart   fail instead of starting a private probed when none is running
  -h, --help       show this help

Exit status: 0 success, 1 usage error, 2 daemon or RPC error.
)";

constexpr const char* kTraceOptions = R"(
Tracing options:
  --count N        stop after N completed calls (N entries with --kind entry)
  --duration S     stop after S seconds (decimals allowed)
  --args N         arguments to capture and print, 0..6 (default 6)
  --kind K         return (one line per completed call, default), entry, or call (both)
  --float          also capture the floating-point return value (xmm0)
)";

constexpr const char* kFuncForms = R"(
FUNC is name, lib:name (library by soname or path substring, e.g. libc:getpid),
name+0x10, or 0xADDRESS; C++ functions by their demangled name.
)";

std::string body(Command command) {
    switch (command) {
    case Command::Attach:
        return std::string("usage: probectl attach PID FUNC... [tracing options]\n\n"
                           "Probe FUNC in the running process PID and print one line per call\n"
                           "until Ctrl-C, --count or --duration, or until the process exits.\n"
                           "The probes are removed afterwards; the process keeps running.\n") +
               kTraceOptions + kFuncForms;
    case Command::Run:
        return std::string("usage: probectl run [-p FUNC]... [tracing options] [--] CMD ARGS...\n\n"
                           "Start CMD with the probes armed before main and print one line per\n"
                           "call until CMD exits; probectl then exits with CMD's status.\n"
                           "Ctrl-C lets CMD go on running untraced.\n\n"
                           "  -p, --probe FUNC  probe FUNC (repeatable)\n") +
               kTraceOptions + kFuncForms;
    case Command::List:
        return "usage: probectl list\n\nShow the traced processes and their probes.\n";
    case Command::Detach:
        return "usage: probectl detach PID\n\n"
               "Remove every probe of PID and let it run untraced.\n";
    case Command::Status:
        return "usage: probectl status\n\nShow the daemon's state.\n";
    case Command::Stack:
        return "usage: probectl stack PID [TID]\n\n"
               "Print the call stack of a traced thread (default: the main thread), like\n"
               "gdb's bt. Frames reached through a return address that a pending return\n"
               "probe replaced are marked [via trampoline]; --json prints the stack.get result.\n";
    case Command::Stats:
        return "usage: probectl stats [PROBE]\n\n"
               "Print what the daemon collected: calls, errors, top return values and\n"
               "a latency histogram per collection. PROBE is a probe id or a collection\n"
               "name; without it, every collection. --json prints the raw stats.get result.\n";
    case Command::Call:
        return "usage: probectl call METHOD [JSON-PARAMS]\n\n"
               "Send one raw JSON-RPC request and print its result, e.g.\n"
               "  probectl call probe.add '{\"pid\": 1234, \"target\": \"work\"}'\n";
    case Command::None:
    case Command::Help:
        break;
    }
    return "usage: probectl [global options] COMMAND [ARGS]\n\n"
           "Commands:\n"
           "  attach PID FUNC...        trace calls of FUNC in a running process\n"
           "  run [-p FUNC]... CMD...   start CMD with probes armed before main\n"
           "  list                      traced processes and probes\n"
           "  detach PID                stop tracing a process\n"
           "  status                    the daemon's state\n"
           "  stack PID [TID]           a thread's call stack\n"
           "  stats [PROBE]             call statistics\n"
           "  call METHOD [JSON]        send a raw JSON-RPC request\n"
           "  help [COMMAND]            this text, or a command's\n";
}

} // namespace

std::string usage_text(Command command) {
    return body(command) + kGlobal;
}

} // namespace probed::client
