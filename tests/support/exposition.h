#pragma once
// Reads samples out of a Prometheus text exposition, for assertions in tests.

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vpbx::test {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

std::vector<Sample> parse_exposition(const std::string& text);

// The samples named `name` whose labels include every pair of `labels`.
std::vector<Sample> find_samples(const std::string& text, const std::string& name,
                                 const std::map<std::string, std::string>& labels = {});

// The value of the single matching sample; nullopt when none matches (throws when several do).
std::optional<double> sample_value(const std::string& text, const std::string& name,
                                   const std::map<std::string, std::string>& labels = {});

}  // namespace vpbx::test
