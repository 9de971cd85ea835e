#include "exporter/app/account_metrics.h"

#include <algorithm>

#include "exporter/http/exposition.h"

namespace vpbx::app {

void AccountFamilies::write_exposition(metrics::TextOutput& out) const {
  struct Collected {
    std::string first_labels;  // account="name", or nothing for the implicit account
    std::vector<prometheus::MetricFamily> families;
  };
  std::vector<Collected> accounts;
  std::vector<const prometheus::MetricFamily*> order;  // each name's first family
  try {
    for (const auto& [account, source] : sources_()) {
      if (!source) continue;
      Collected collected;
      if (!account.empty()) {
        collected.first_labels = "account=\"";
        metrics::write_escaped(collected.first_labels, account, true);
        collected.first_labels += '"';
      }
      collected.families = source->Collect();
      accounts.push_back(std::move(collected));
    }
    for (const auto& account : accounts) {
      for (const auto& family : account.families) {
        // A few dozen families: a linear search is cheaper than an index.
        if (std::none_of(order.begin(), order.end(),
                         [&](const auto* f) { return f->name == family.name; })) {
          order.push_back(&family);
        }
      }
    }
  } catch (...) {
    // Only allocation can fail here; the scrape then shows the rest.
    return;
  }
  for (const auto* head : order) {
    // As prometheus-cpp does, a family without samples is left out.
    bool any = false;
    for (const auto& account : accounts) {
      for (const auto& family : account.families) {
        if (family.name != head->name || family.metric.empty()) continue;
        if (!any) metrics::write_family_head(out.text(), head->name, head->help, head->type);
        any = true;
        http::write_samples(out, family, account.first_labels);
      }
    }
  }
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
