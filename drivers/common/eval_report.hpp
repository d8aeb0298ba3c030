// drivers/common/eval_report.hpp — how ibq-eval reports: an ordered JSON object and a Markdown table row,
// each written to a temporary name and renamed.
#pragma once

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "ibq/core/error.hpp"
#include "ibq/io/durable.hpp"

namespace ibq::cli {

// An ordered list of JSON fields, printed as one object; NaN and inf are written as null (JSON has neither).
struct EvalReport {
  std::vector<std::pair<std::string, std::string>> fields;
  std::vector<std::string> md_head, md_row;

  EvalReport& num(const std::string& k, double v) {
    std::ostringstream s;
    if (std::isfinite(v)) s << std::setprecision(7) << v; else s << "null";
    fields.emplace_back(k, s.str());
    return *this;
  }
  EvalReport& str(const std::string& k, const std::string& v) {
    std::string e;
    for (char c : v) e += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    fields.emplace_back(k, "\"" + e + "\"");
    return *this;
  }
  void column(const std::string& head, const std::string& cell) { md_head.push_back(head), md_row.push_back(cell); }

  std::string json() const {
    std::string s = "{";
    for (std::size_t i = 0; i < fields.size(); ++i) s += (i ? ", \"" : "\"") + fields[i].first + "\": " + fields[i].second;
    return s + "}\n";
  }
  std::string markdown_row() const {
    std::string row = "|";
    for (const auto& c : md_row) row += " " + c + " |";
    return row;
  }
  std::string markdown_table() const {
    std::string head = "|", rule = "|";
    for (const auto& h : md_head) head += " " + h + " |", rule += " ---: |";
    return head + "\n" + rule + "\n" + markdown_row() + "\n";
  }
};

inline std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

}  // namespace ibq::cli
