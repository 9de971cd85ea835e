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

}  // namespace

std::string render_landing_page(const LandingInfo& info) {
  std::string api_status;
  if (!info.api_polled) {
    api_status = "not polled yet";
  } else if (info.api_up) {
    api_status = "up, platform version " + escape_html(info.platform_version);
  } else {
    api_status = "<strong>down</strong>: " + escape_html(info.api_error);
  }
  std::string html;
  html += "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>VPBX Exporter</title>";
  html +=
      "<style>body{font-family:sans-serif;margin:2em}td{padding:0 1em 0 0}</style></head><body>\n";
  html +=
      "<h1>VPBX Exporter</h1>\n<p>Prometheus exporter for a hosted virtual PBX's OpenAPI.</p>\n";
  html += "<table>\n";
  html += std::string("<tr><td>Version</td><td>") + kVersion + " (revision " + kRevision +
          ")</td></tr>\n";
  html += "<tr><td>API</td><td>" + escape_html(info.api_url) + "</td></tr>\n";
  html += "<tr><td>API status</td><td>" + api_status + "</td></tr>\n";
  html += "<tr><td>Users configured</td><td>" + std::to_string(info.users) + "</td></tr>\n";
  html +=
      "<tr><td>Enterprises configured</td><td>" + std::to_string(info.enterprises) + "</td></tr>\n";
  if (info.shard_count > 1) {
    html += "<tr><td>Shard</td><td>" + std::to_string(info.shard_index) + " of " +
            std::to_string(info.shard_count) + " (" + std::to_string(info.shard_users) +
            " users here)</td></tr>\n";
  }
  html += "</table>\n";
  if (info.subscriptions_managed) {
    html += "<h2>Push subscriptions</h2>\n";
    if (info.subscriptions.empty()) {
      html += "<p>None active yet.</p>\n";
    } else {
      html += "<table>\n<tr><th>Type</th><th>Id</th><th>Scope</th><th>Expires</th><th></th></tr>\n";
      for (const auto& sub : info.subscriptions) {
        html += "<tr><td>" + escape_html(sub.resource_type) + "</td><td>" + escape_html(sub.id) +
                "</td><td>" + escape_html(sub.scope) + "</td><td>" + escape_html(sub.expires) +
                "</td><td>" + (sub.adopted ? "adopted" : "created") + "</td></tr>\n";
      }
      html += "</table>\n";
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
