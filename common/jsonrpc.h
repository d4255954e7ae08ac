#pragma once
// JSON-RPC 2.0 message shapes and error codes shared by probed and probectl.
#include <nlohmann/json.hpp>

#include <string>

namespace probed::rpc {

using json = nlohmann::json;

constexpr size_t kMaxLine = 1u << 20; // a request line over 1 MiB is refused

// Standard codes, then ours from -32000 down (docs/protocol.md).
enum Code : int {
    kParseError = -32700,
    kInvalidRequest = -32600,
    kMethodNotFound = -32601,
    kInvalidParams = -32602,
    kNotFound = -32000,
    kRefused = -32001,
    kPermission = -32002,
    kProcessGone = -32003,
    kNotImplemented = -32004,
    kInternal = -32005,
};

struct RpcError {
    int code = kInternal;
    std::string message;
    json data = json::object();
};

json request(uint64_t id, const std::string& method, json params = json::object());
json result_response(const json& id, json result);
json error_response(const json& id, const RpcError& error);
json notification(const std::string& method, json params);

// One line of the wire format (compact JSON, no newline inside, '\n' at the end).
std::string to_line(const json& message);

} // namespace probed::rpc
