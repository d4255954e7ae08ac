#include "client/text_table.h"

#include <algorithm>

namespace probed::client {

std::string TextTable::render() const {
    std::vector<std::size_t> width;
    for (const auto& row : rows_) {
        if (width.size() < row.size())
            width.resize(row.size(), 0);
        for (std::size_t c = 0; c < row.size(); ++c)
            width[c] = std::max(width[c], row[c].size());
    }
    std::string out;
    for (const auto& row : rows_) {
        std::string line;
        for (std::size_t c = 0; c < row.size(); ++c) {
            if (c)
                line += "  ";
            line += row[c];
            if (c + 1 < row.size())
                line.append(width[c] - row[c].size(), ' ');
        }
        out += line + '\n';
    }
    return out;
}

} // namespace probed::client
