#pragma once
// The --help texts, one per subcommand.
#include "client/cli_args.h"

#include <string>

namespace probed::client {

// The full help of one subcommand, or the overview for Command::None/Help.
std::string usage_text(Command command);

} // namespace probed::client
