#pragma once
// probectl's exit statuses are an outside contract (docs/ARCHITECTURE.md):
// scripts tell "I called it wrong" from "the daemon said no".

namespace probed::client {

enum ExitCode : int {
    kExitOk = 0,
    kExitUsage = 1,
    kExitFailure = 2, // daemon or RPC error, message on stderr
};

} // namespace probed::client
