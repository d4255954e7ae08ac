// probectl: the command-line client of probed.
#include "client/cli_args.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/session.h"
#include "client/signal_watcher.h"
#include "client/usage_text.h"

#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

using namespace probed::client;

namespace {

int run(const std::vector<std::string>& argv) {
    CliArgs args;
    auto parsed = parse_cli(argv, args);
    if (!parsed) {
        std::fprintf(stderr, "probectl: %s\n\n%s", parsed.error().message.c_str(),
                     usage_text(args.command).c_str());
        return kExitUsage;
    }
    if (args.help || args.command == Command::Help) {
        std::fputs(usage_text(args.help ? args.command : args.help_topic).c_str(), stdout);
        return kExitOk;
    }

    // Write errors (a closed pipe, a daemon gone) are reported, not fatal signals.
    std::signal(SIGPIPE, SIG_IGN);
    auto watcher = SignalWatcher::create();
    if (!watcher)
        return fail(watcher.error().message);
    // Destroyed before the watcher: a private daemon is stopped while
    // Ctrl-C is still blocked, so a late signal cannot cut the clean-up short.
    auto session = open_session(args, *watcher);
    if (!session)
        return fail(session.error().message);
    CommandContext ctx{args, *session->connection, *watcher};
    return run_command(ctx);
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(std::vector<std::string>(argv + 1, argv + argc));
    } catch (const std::exception& e) {
        // Only a bug lands here; the daemon's answers are never trusted to
        // have the types we expect (json_fields.h).
        std::fprintf(stderr, "probectl: internal error: %s\n", e.what());
        return kExitFailure;
    }
}
