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

// Families collected from one source per account, merged by name in first-seen order. Written
// as text: each account's samples go out with its label written once, not copied into one family
// with the label added to each (for 40 accounts that merge was most of their metrics' cost).
class AccountFamilies : public metrics::TextSource {
 public:
  // Account name ("" for the implicit account) and its source, asked at every scrape.
  using Sources = std::function<
      std::vector<std::pair<std::string, std::shared_ptr<prometheus::Collectable>>>()>;
  explicit AccountFamilies(Sources sources) : sources_(std::move(sources)) {}
  void write_exposition(metrics::TextOutput& out) const override;

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

}  // namespace vpbx::app
