#pragma once
// The architecture the engine runs on, chosen at compile time. The engine
// uses only `arch::host::` names, which every backend's adapter
// (x86_64/x86_host.h, arm64/arm64_host.h) provides alike; nothing outside
// arch/ knows an opcode or a register.
#if defined(__x86_64__)
#include "arch/x86_64/x86_host.h"
namespace probed::arch {
namespace host = x86;
}
#elif defined(__aarch64__)
#include "arch/arm64/arm64_host.h"
namespace probed::arch {
namespace host = arm64;
}
#else
#error "probed supports x86_64 and aarch64 hosts"
#endif
