#include "tests/support/exposition.h"

#include <limits>
#include <sstream>
#include <stdexcept>

namespace vpbx::test {
namespace {

// Parses `{a="x",b="y"}` starting at text[pos] == '{'; returns the index after '}'.
std::size_t parse_labels(const std::string& line, std::size_t pos,
                         std::map<std::string, std::string>& out) {
  ++pos;
  while (pos < line.size() && line[pos] != '}') {
    const auto eq = line.find('=', pos);
    if (eq == std::string::npos) throw std::runtime_error("bad labels: " + line);
    const std::string name = line.substr(pos, eq - pos);
    pos = eq + 2;  // skip ="
    std::string value;
    while (pos < line.size() && line[pos] != '"') {
      if (line[pos] == '\\' && pos + 1 < line.size()) {
        ++pos;
        value += line[pos] == 'n' ? '\n' : line[pos];
      } else {
        value += line[pos];
      }
      ++pos;
    }
    out[name] = value;
    ++pos;  // closing quote
    if (pos < line.size() && line[pos] == ',') ++pos;
  }
  return pos + 1;
}

}  // namespace

std::vector<Sample> parse_exposition(const std::string& text) {
  std::vector<Sample> samples;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    Sample sample;
    std::size_t pos = line.find_first_of("{ ");
    if (pos == std::string::npos) continue;
    sample.name = line.substr(0, pos);
    if (line[pos] == '{') pos = parse_labels(line, pos, sample.labels);
    const auto value_start = line.find_first_not_of(' ', pos);
    const auto value_end = line.find(' ', value_start);
    const std::string value = line.substr(value_start, value_end - value_start);
    if (value == "+Inf") {
      sample.value = std::numeric_limits<double>::infinity();
    } else if (value == "-Inf") {
      sample.value = -std::numeric_limits<double>::infinity();
    } else {
      sample.value = std::stod(value);
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

std::vector<Sample> find_samples(const std::string& text, const std::string& name,
                                 const std::map<std::string, std::string>& labels) {
  std::vector<Sample> found;
  for (auto& sample : parse_exposition(text)) {
    if (sample.name != name) continue;
    bool match = true;
    for (const auto& [key, value] : labels) {
      const auto it = sample.labels.find(key);
      if (it == sample.labels.end() || it->second != value) match = false;
    }
    if (match) found.push_back(std::move(sample));
  }
  return found;
}

std::optional<double> sample_value(const std::string& text, const std::string& name,
                                   const std::map<std::string, std::string>& labels) {
  const auto found = find_samples(text, name, labels);
  if (found.empty()) return std::nullopt;
  if (found.size() > 1) throw std::runtime_error("several samples match " + name);
  return found.front().value;
}

}  // namespace vpbx::test
