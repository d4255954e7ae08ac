#pragma once
// CallEvent -> the `params` of an "event" notification (docs/protocol.md).
#include "common/jsonrpc.h"
#include "daemon/call_event.h"

#include <string>

namespace probed {

rpc::json event_to_json(const CallEvent& ev);
// The whole notification line for a call event, written directly: the RPC
// thread encodes every event it delivers, and on a small machine it competes
// with the tracer for CPU, so this avoids building a JSON tree per event.
// Same content as rpc::to_line(rpc::notification("event", event_to_json(ev))).
std::string event_notification_line(const CallEvent& ev);
// {"type":"dropped","probe_id":N,"count":N}
rpc::json dropped_to_json(uint64_t probe_id, uint64_t count);

} // namespace probed
