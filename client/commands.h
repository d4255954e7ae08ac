#pragma once
// The subcommands. Each returns probectl's exit status (exit_codes.h) and
// prints its own messages.
#include "client/cli_args.h"
#include "client/rpc_connection.h"
#include "client/signal_watcher.h"

#include <string>

namespace probed::client {

struct CommandContext {
    const CliArgs& args;
    RpcConnection& rpc;
    SignalWatcher& watcher;
};

int run_command(CommandContext& ctx);

int cmd_attach(CommandContext& ctx);
int cmd_run(CommandContext& ctx);
int cmd_list(CommandContext& ctx);
int cmd_detach(CommandContext& ctx);
int cmd_status(CommandContext& ctx);
int cmd_stack(CommandContext& ctx);
int cmd_stats(CommandContext& ctx);
int cmd_call(CommandContext& ctx);

// Prints "probectl: MESSAGE" on stderr and returns kExitFailure.
int fail(const std::string& message);

} // namespace probed::client
