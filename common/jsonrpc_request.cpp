#include "common/jsonrpc_request.h"

namespace probed::rpc {

std::optional<json> answer_line(const LineBuffer::Line& line, const Dispatch& dispatch) {
    if (line.too_long)
        return error_response(nullptr, {kInvalidRequest, "request line exceeds 1 MiB",
                                        {{"reason", "line too long"}, {"limit", kMaxLine}}});
    if (line.text.find_first_not_of(" \t") == std::string::npos) return std::nullopt; // blank line
    json req = json::parse(line.text, nullptr, false);
    if (req.is_discarded())
        return error_response(nullptr, {kParseError, "parse error: not valid JSON",
                                        {{"line_bytes", line.text.size()}}});
    json id = req.is_object() && req.contains("id") ? req["id"] : json(nullptr);
    if (!req.is_object() || req.value("jsonrpc", json()) != "2.0" || !req.contains("method") ||
        !req["method"].is_string() || (!id.is_null() && !id.is_number() && !id.is_string()))
        return error_response(id, {kInvalidRequest,
                                   "invalid request: expected a JSON-RPC 2.0 request object",
                                   {{"reason", "not a JSON-RPC 2.0 request"}}});
    json params = req.contains("params") ? req["params"] : json::object();
    if (!params.is_object())
        return error_response(id, {kInvalidParams, "params must be an object",
                                   {{"field", "params"}, {"expected", "an object"}}});
    json response = dispatch(id, req["method"].get<std::string>(), params);
    if (!req.contains("id")) return std::nullopt;
    return response;
}

} // namespace probed::rpc
