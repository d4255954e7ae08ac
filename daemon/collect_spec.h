#pragma once
// What "collect this probe" means: the collection its calls go into (a name
// that outlives probe ids and daemon restarts), how to read the return value
// and which return values count as errors. Shared by probe.add's `collect`
// parameter and the probes.d config files.
#include "common/jsonrpc.h"
#include "common/result.h"
#include "daemon/retval_predicate.h"

#include <optional>
#include <string>

namespace probed {

struct CollectSpec {
    std::string name;                      // collection name, see is_valid_collection_name
    RetvalType type = RetvalType::Long;
    std::optional<RetvalPredicate> error_if; // none: no call is an error

    std::string error_if_text() const { return error_if ? error_if->text() : ""; }
    bool operator==(const CollectSpec& o) const {
        return name == o.name && type == o.type && error_if_text() == o.error_if_text();
    }
};

// A parse failure names the offending field ("collect.error_if") so callers
// can turn it into an invalid-params error or a config file line.
struct CollectSpecError {
    std::string field;
    std::string message;
};

// Reads {name?, error_if?, retval?}; `default_name` is used when name is absent.
std::optional<CollectSpecError> parse_collect_spec(const rpc::json& j, const std::string& default_name,
                                                   CollectSpec& out);

// Names become directory names under the state dir: letters, digits, '.',
// '_', '-', '@', at most 100 bytes, not starting with '.'.
bool is_valid_collection_name(const std::string& name);
// `text` with every other byte replaced by '_' (and a leading '.' too).
std::string collection_name_from(const std::string& text);

} // namespace probed
