#include "daemon/debuginfo_path.h"

#include <cstdlib>

namespace probed {

std::vector<std::string> debuginfo_roots() {
    std::vector<std::string> roots;
    if (const char* env = std::getenv("PROBED_DEBUGINFO_PATH")) {
        std::string all = env;
        size_t pos = 0;
        while (pos <= all.size()) {
            size_t colon = all.find(':', pos);
            if (colon == std::string::npos) colon = all.size();
            if (colon > pos) roots.push_back(all.substr(pos, colon - pos));
            pos = colon + 1;
        }
    }
    roots.push_back("/usr/lib/debug");
    return roots;
}

} // namespace probed
