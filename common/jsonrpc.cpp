#include "common/jsonrpc.h"

namespace probed::rpc {

json request(uint64_t id, const std::string& method, json params) {
    return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
}

json result_response(const json& id, json result) {
    return {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

json error_response(const json& id, const RpcError& error) {
    json err = {{"code", error.code}, {"message", error.message}};
    if (!error.data.empty()) err["data"] = error.data;
    return {{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(err)}};
}

json notification(const std::string& method, json params) {
    return {{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(params)}};
}

std::string to_line(const json& message) {
    // Invalid UTF-8 (e.g. a symbol name with odd bytes) is replaced, never thrown.
    std::string s = message.dump(-1, ' ', false, json::error_handler_t::replace);
    s.push_back('\n');
    return s;
}

} // namespace probed::rpc
