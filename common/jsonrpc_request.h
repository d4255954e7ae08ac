#pragma once
// One line from a client to the answer it gets: parse it as JSON, check it is
// a JSON-RPC 2.0 request, hand a well-formed one to `dispatch`, and shape the
// errors for everything else (docs/protocol.md). Kept apart from the socket
// code so the request path can be unit-tested and fuzzed as it really runs.
#include "common/jsonrpc.h"
#include "common/line_buffer.h"

#include <functional>
#include <optional>
#include <string>

namespace probed::rpc {

// Runs one well-formed request; returns its response (result or error).
using Dispatch = std::function<json(const json& id, const std::string& method, const json& params)>;

// The response to send for `line`, or nullopt when nothing is sent: a blank
// line, or a notification (a request without "id"), which is still
// dispatched but never answered, even on error.
std::optional<json> answer_line(const LineBuffer::Line& line, const Dispatch& dispatch);

} // namespace probed::rpc
