#pragma once
// /metrics over every account: each family written once, with every account's samples; a named
// account's carry account="<name>" first, the implicit account's none (its output is what a
// single-account exporter always wrote).

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "exporter/metrics/text_format.h"
#include "exporter/state/store.h"

namespace vpbx::app {

// Families collected from one source per account, merged by name in first-seen order.
class AccountFamilies : public prometheus::Collectable {
 public:
  // Account name ("" for the implicit account) and its source, asked at every scrape.
  using Sources = std::function<
      std::vector<std::pair<std::string, std::shared_ptr<prometheus::Collectable>>>()>;
  explicit AccountFamilies(Sources sources) : sources_(std::move(sources)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;  // never throws

 private:
  Sources sources_;
};

// Every account's state store, as one set of families (state::Store::write_exposition).
class AccountStores : public metrics::TextSource {
 public:
  using Stores = std::function<std::vector<std::shared_ptr<const state::Store>>()>;
  explicit AccountStores(Stores stores) : stores_(std::move(stores)) {}
  void write_exposition(metrics::TextOutput& out) const override;

 private:
  Stores stores_;
};

// Adds account="<name>" as the first label of every sample, and merges families of the same name
// into the first one (sources list a family once each; accounts repeat it).
void merge_families(std::vector<prometheus::MetricFamily>& into,
                    std::vector<prometheus::MetricFamily> families, const std::string& account);

}  // namespace vpbx::app
