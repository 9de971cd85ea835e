#include "exporter/app/landing_page.h"

#include "vpbx/version.h"

namespace vpbx::app {
namespace {

std::string escape_html(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string api_status(const LandingAccount& account) {
  if (!account.api_polled) return "not polled yet";
  if (account.api_up) return "up, platform version " + escape_html(account.platform_version);
  return "<strong>down</strong>: " + escape_html(account.api_error);
}

std::string subscriptions_table(const LandingAccount& account, const std::string& title) {
  std::string html = "<h2>" + title + "</h2>\n";
  if (account.subscriptions.empty()) return html + "<p>None active yet.</p>\n";
  html += "<table>\n<tr><th>Type</th><th>Id</th><th>Scope</th><th>Expires</th><th></th></tr>\n";
  for (const auto& sub : account.subscriptions) {
    html += "<tr><td>" + escape_html(sub.resource_type) + "</td><td>" + escape_html(sub.id) +
            "</td><td>" + escape_html(sub.scope) + "</td><td>" + escape_html(sub.expires) +
            "</td><td>" + (sub.adopted ? "adopted" : "created") + "</td></tr>\n";
  }
  return html + "</table>\n";
}

}  // namespace

std::string render_landing_page(const LandingInfo& info) {
  // One implicit account: the page a single-account exporter always showed.
  const bool implicit = info.accounts.size() == 1 && info.accounts[0].name.empty();
  std::string html;
  html += "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>VPBX Exporter</title>";
  html +=
      "<style>body{font-family:sans-serif;margin:2em}td{padding:0 1em 0 0}</style></head><body>\n";
  html +=
      "<h1>VPBX Exporter</h1>\n<p>Prometheus exporter for a hosted virtual PBX's OpenAPI.</p>\n";
  html += "<table>\n";
  html += std::string("<tr><td>Version</td><td>") + kVersion + " (revision " + kRevision +
          ")</td></tr>\n";
  std::size_t shard_users = 0;
  for (const auto& account : info.accounts) shard_users += account.shard_users;
  if (implicit) {
    const auto& account = info.accounts[0];
    html += "<tr><td>API</td><td>" + escape_html(account.api_url) + "</td></tr>\n";
    html += "<tr><td>API status</td><td>" + api_status(account) + "</td></tr>\n";
    html += "<tr><td>Users configured</td><td>" + std::to_string(account.users) + "</td></tr>\n";
    html += "<tr><td>Enterprises configured</td><td>" + std::to_string(account.enterprises) +
            "</td></tr>\n";
  } else {
    html += "<tr><td>Accounts</td><td>" + std::to_string(info.accounts.size()) + "</td></tr>\n";
  }
  if (info.shard_count > 1) {
    html += "<tr><td>Shard</td><td>" + std::to_string(info.shard_index) + " of " +
            std::to_string(info.shard_count) + " (" + std::to_string(shard_users) +
            " users here)</td></tr>\n";
  }
  html += "</table>\n";
  if (implicit) {
    if (info.accounts[0].subscriptions_managed) {
      html += subscriptions_table(info.accounts[0], "Push subscriptions");
    }
  } else {
    html +=
        "<h2>Accounts</h2>\n<table>\n<tr><th>Account</th><th>API</th><th>Status</th>"
        "<th>Users configured</th><th>Enterprises configured</th></tr>\n";
    for (const auto& account : info.accounts) {
      html += "<tr><td>" + escape_html(account.name) + "</td><td>" + escape_html(account.api_url) +
              "</td><td>" + api_status(account) + "</td><td>" + std::to_string(account.users) +
              "</td><td>" + std::to_string(account.enterprises) + "</td></tr>\n";
    }
    html += "</table>\n";
    for (const auto& account : info.accounts) {
      if (account.subscriptions_managed) {
        html += subscriptions_table(account, "Push subscriptions of " + escape_html(account.name));
      }
    }
  }
  html += "<ul>\n";
  html += "<li><a href=\"" + escape_html(info.telemetry_path) + "\">Metrics</a></li>\n";
  html += "<li><a href=\"/-/healthy\">Health</a></li>\n";
  html += "<li><a href=\"/-/ready\">Readiness</a></li>\n";
  html += "</ul>\n</body></html>\n";
  return html;
}

}  // namespace vpbx::app
