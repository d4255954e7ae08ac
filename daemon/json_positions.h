#pragma once
// Line numbers for a JSON document's values, so config errors found after
// parsing ("probes[1].collect.error_if is not a predicate") can name the
// line as well as the ones the parser finds. nlohmann::json keeps no source
// positions; a second, SAX pass over the text records where each value is.
#include <map>
#include <string>

namespace probed {

class JsonPositions {
public:
    // Text that does not parse yields an empty map (the DOM parse reports it).
    explicit JsonPositions(const std::string& text);

    // 1-based line of the value at `pointer` ("/probes/1/collect"), or of its
    // nearest recorded ancestor (a missing field is reported at its parent).
    int line_of(const std::string& pointer) const;

    // Line and column (1-based) of a byte offset, as nlohmann parse errors give.
    static std::pair<int, int> line_col(const std::string& text, size_t byte);

private:
    std::map<std::string, int> lines_;
};

// "/probes/1/collect/error_if" -> "probes[1].collect.error_if" for messages.
std::string pointer_to_path(const std::string& pointer);

} // namespace probed
