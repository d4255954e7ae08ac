#pragma once
// Left-aligned columns for `list`: widths follow the content, so a long
// module path widens its column instead of breaking the alignment.
#include <string>
#include <vector>

namespace probed::client {

class TextTable {
  public:
    explicit TextTable(std::vector<std::string> header) { rows_.push_back(std::move(header)); }

    void add_row(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

    // Two spaces between columns, no trailing spaces, a newline per row.
    std::string render() const;

  private:
    std::vector<std::vector<std::string>> rows_;
};

} // namespace probed::client
