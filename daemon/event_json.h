#pragma once
// CallEvent -> the `params` of an "event" notification (docs/protocol.md).
#include "common/jsonrpc.h"
#include "daemon/call_event.h"

namespace probed {

rpc::json event_to_json(const CallEvent& ev);
// {"type":"dropped","probe_id":N,"count":N}
rpc::json dropped_to_json(uint64_t probe_id, uint64_t count);

} // namespace probed
