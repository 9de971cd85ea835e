#include "exporter/app/account_metrics.h"

#include <algorithm>
#include <iterator>

namespace vpbx::app {

void merge_families(std::vector<prometheus::MetricFamily>& into,
                    std::vector<prometheus::MetricFamily> families, const std::string& account) {
  for (auto& family : families) {
    if (!account.empty()) {
      for (auto& metric : family.metric) {
        metric.label.insert(metric.label.begin(),
                            prometheus::ClientMetric::Label{"account", account});
      }
    }
    // A few dozen families: a linear search is cheaper than an index.
    const auto same = std::find_if(into.begin(), into.end(),
                                   [&](const auto& f) { return f.name == family.name; });
    if (same == into.end()) {
      into.push_back(std::move(family));
    } else {
      std::move(family.metric.begin(), family.metric.end(), std::back_inserter(same->metric));
    }
  }
}

std::vector<prometheus::MetricFamily> AccountFamilies::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  try {
    for (const auto& [account, source] : sources_()) {
      if (source) merge_families(out, source->Collect(), account);
    }
  } catch (...) {
    // Only allocation can fail here; a scrape then shows what was collected.
  }
  return out;
}

void AccountStores::write_exposition(metrics::TextOutput& out) const {
  // The shared_ptrs keep a store that a reload removes alive until the scrape is done.
  const auto stores = stores_();
  std::vector<const state::Store*> raw;
  raw.reserve(stores.size());
  for (const auto& store : stores) raw.push_back(store.get());
  state::Store::write_exposition(out, raw);
}

}  // namespace vpbx::app
