#pragma once
// Stack frames as JSON (docs/protocol.md): stack.get results and the
// `stack` field of events.
#include "common/jsonrpc.h"
#include "daemon/stack_frame.h"

namespace probed {

// [{pc:"0x..", module, function, offset, file?, line?, via_trampoline?}]
rpc::json stack_frames_to_json(const std::vector<StackFrame>& frames);

} // namespace probed
