#pragma once
// Where separate debuginfo is looked for: $PROBED_DEBUGINFO_PATH (colon
// separated directories, each holding a .build-id/ tree, searched first),
// then the system's /usr/lib/debug.
#include <string>
#include <vector>

namespace probed {

std::vector<std::string> debuginfo_roots();

} // namespace probed
