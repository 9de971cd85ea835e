#!/usr/bin/env python3
"""Writes the Grafana dashboards of vpbx_exporter (dashboards/*.json) from this one source.

    python3 dashboards/generate.py          # rewrite the JSON files
    python3 dashboards/generate.py --check  # exit 1 if a JSON file differs from what it would write

Edit this file, not the JSON. Three dashboards, linked by their tag "vpbx":
  vpbx-overview          Overview: platform, presence, DND / forwards, calls, minutes, push, API
  vpbx-user              User / room: presence and features over time, calls, minutes, missed
  vpbx-exporter-health   Exporter health: API, collectors, webhook, subscriptions, process
Every query is run against a real Prometheus by tests/e2e/e2e.py.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "prometheus", "uid": "${datasource}"}
# Process-wide series (up, build info, reloads, process_*) have no account label.
PROC = 'job=~"$job", instance=~"$instance"'
# An account's series carry account="<name>" only with `accounts:` in the exporter's config.
# $account's "All" is the regex .*, which also matches series without the label, so every query
# works with one implicit account as with many.
SEL = PROC + ', account=~"$account"'
ENT = SEL + ', enterprise=~"$enterprise"'
USR = ENT + ', user=~"$user"'
WATCHED = "CENTRAL_DND|CALL_FORWARD_UNCONDITIONAL|CALL_FORWARD_BUSY"


class Layout:
    """Places panels left to right, wrapping at 24 columns."""

    def __init__(self):
        self.x = self.y = self.row_h = 0
        self.next_id = 1

    def place(self, panel, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        panel["id"] = self.next_id
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        return panel

    def row(self, title):
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel = {"type": "row", "title": title, "collapsed": False, "panels": [],
                 "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}, "id": self.next_id}
        self.next_id += 1
        self.y += 1
        return panel


def target(expr, legend="__auto", instant=False, ref="A", fmt="time_series"):
    t = {"datasource": DS, "refId": ref, "expr": expr, "legendFormat": legend,
         "range": not instant, "instant": instant, "editorMode": "code"}
    if fmt != "time_series":
        t["format"] = fmt
    return t


def targets(*specs, instant=False):
    """specs: (expr, legend) pairs."""
    return [target(e, l, instant=instant, ref=chr(ord("A") + i)) for i, (e, l) in enumerate(specs)]


def base(kind, title, desc, tg, unit=None, **defaults):
    fc = {"defaults": dict(defaults), "overrides": []}
    if unit:
        fc["defaults"]["unit"] = unit
    return {"type": kind, "title": title, "description": desc, "datasource": DS,
            "targets": tg, "fieldConfig": fc, "options": {}}


def stat(title, desc, tg, unit=None, mappings=None, thresholds=None, text_mode="auto",
         color_mode="value", no_value=None):
    p = base("stat", title, desc, tg, unit)
    d = p["fieldConfig"]["defaults"]
    if mappings:
        d["mappings"] = mappings
    d["thresholds"] = {"mode": "absolute", "steps": thresholds or [{"color": "green", "value": None}]}
    d["color"] = {"mode": "thresholds"}
    if no_value is not None:
        d["noValue"] = no_value
    p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "textMode": text_mode, "colorMode": color_mode, "graphMode": "none",
                    "justifyMode": "auto", "orientation": "auto"}
    return p


def timeseries(title, desc, tg, unit=None, stack=False, bars=False, min0=True, no_value=None):
    p = base("timeseries", title, desc, tg, unit)
    d = p["fieldConfig"]["defaults"]
    d["custom"] = {"drawStyle": "bars" if bars else "line", "lineWidth": 1,
                   "fillOpacity": 60 if bars else (30 if stack else 10),
                   "stacking": {"mode": "normal" if stack else "none", "group": "A"},
                   "showPoints": "never", "spanNulls": False}
    if min0:
        d["min"] = 0
    if no_value is not None:
        d["noValue"] = no_value
    p["options"] = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}}
    return p


def state_timeline(title, desc, tg, mappings):
    p = base("state-timeline", title, desc, tg)
    d = p["fieldConfig"]["defaults"]
    d["mappings"] = mappings
    d["color"] = {"mode": "thresholds"}
    d["thresholds"] = {"mode": "absolute", "steps": [{"color": "transparent", "value": None}]}
    d["custom"] = {"fillOpacity": 80, "lineWidth": 0}
    p["options"] = {"showValue": "never", "mergeValues": True, "rowHeight": 0.8,
                    "alignValue": "left", "legend": {"showLegend": False}}
    return p


def table(title, desc, tg, exclude=(), rename=None, links=None):
    p = base("table", title, desc, tg)
    if links:
        p["fieldConfig"]["defaults"]["links"] = links
    p["transformations"] = [
        {"id": "organize", "options": {
            "excludeByName": {k: True for k in ("Time", "__name__", "job", "instance") + tuple(exclude)},
            "renameByName": rename or {}}}]
    p["options"] = {"showHeader": True, "cellHeight": "sm"}
    return p


def bargauge(title, desc, tg, unit=None, links=None):
    p = base("bargauge", title, desc, tg, unit)
    d = p["fieldConfig"]["defaults"]
    d["min"] = 0
    d["color"] = {"mode": "continuous-BlYlRd"}
    if links:
        d["links"] = links
    p["options"] = {"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
    return p


def on_off(on_text, on_color, off_text="off", off_color="transparent"):
    return [{"type": "value", "options": {
        "0": {"text": off_text, "color": off_color, "index": 0},
        "1": {"text": on_text, "color": on_color, "index": 1}}}]


UP_DOWN = [{"type": "value", "options": {"0": {"text": "DOWN", "color": "red", "index": 0},
                                         "1": {"text": "UP", "color": "green", "index": 1}}}]


def variable(name, label, query, multi=True, include_all=True, all_value=None):
    v = {"type": "query", "name": name, "label": label, "datasource": DS,
            "definition": query,
            "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery",
                      "qryType": 1},
            "refresh": 2, "sort": 1, "multi": multi, "includeAll": include_all,
            "current": {}, "options": [], "hide": 0, "regex": "", "skipUrlSync": False}
    if all_value is not None:
        v["allValue"] = all_value
    return v


def templating(with_enterprise, user_mode):
    v = [{"type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus",
          "current": {}, "options": [], "hide": 0, "refresh": 1, "regex": "", "skipUrlSync": False},
         variable("job", "Job", "label_values(vpbx_exporter_build_info, job)"),
         variable("instance", "Instance", 'label_values(vpbx_exporter_build_info{job=~"$job"}, instance)'),
         variable("account", "Account", 'label_values(vpbx_up{%s}, account)' % PROC, all_value=".*")]
    if with_enterprise:
        v.append(variable("enterprise", "Enterprise",
                          'label_values(vpbx_user_info{%s}, enterprise)' % SEL))
    if user_mode:
        single = user_mode == "single"
        v.append(variable("user", "User / room", 'label_values(vpbx_user_info{%s}, user)' % ENT,
                          multi=not single, include_all=not single))
    return {"list": v}


def dashboard(uid, title, desc, panels, with_enterprise, user_mode, refresh="30s"):
    return {
        "uid": uid, "title": title, "description": desc,
        "tags": ["vpbx", "vpbx_exporter", "telephony"],
        "schemaVersion": 38, "version": 1, "editable": True, "graphTooltip": 1,
        "timezone": "browser", "refresh": refresh, "time": {"from": "now-6h", "to": "now"},
        "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": "",
        "timepicker": {}, "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": [{"title": "VPBX dashboards", "type": "dashboards", "tags": ["vpbx"],
                   "asDropdown": False, "includeVars": True, "keepTime": True,
                   "icon": "external link", "targetBlank": False, "tooltip": "", "url": ""}],
        "templating": templating(with_enterprise, user_mode),
        "panels": panels,
    }


USER_LINK = [{"title": "Open the User / room dashboard", "targetBlank": False,
              "url": "/d/vpbx-user/vpbx-user-room?${__url_time_range}&var-datasource=${datasource}"
                     "&var-job=${job}&var-instance=${instance}"
                     "&var-account=${__field.labels.account}"
                     "&var-enterprise=${__field.labels.enterprise}&var-user=${__field.labels.user}"}]


def overview():
    L = Layout()
    p = []
    p.append(L.row("Now"))
    p.append(L.place(stat("Platform API", "1 when the exporter's last v1/system/server call succeeded (vpbx_up).",
                          targets(('min(vpbx_up{%s})' % SEL, "API")), mappings=UP_DOWN,
                          thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}],
                          color_mode="background"), 3, 4))
    p.append(L.place(stat("Platform version", "The platform's build, from v1/system/server.",
                          targets(('max by (build_version) (vpbx_server_info{%s})' % SEL, "{{build_version}}")),
                          text_mode="name", color_mode="none"), 3, 4))
    p.append(L.place(stat("Users watched", "Users the exporter tracks, configured and learnt.",
                          targets(('sum(vpbx_users{%s})' % SEL, "users")), color_mode="none"), 3, 4))
    p.append(L.place(stat("On the phone", "Users whose presence is busy.",
                          targets(('sum(enterprise:vpbx_user_presence:sum{%s, state="busy"})' % ENT, "busy")),
                          thresholds=[{"color": "blue", "value": None}]), 3, 4))
    p.append(L.place(stat("Ringing", "Users whose phone rings now.",
                          targets(('sum(enterprise:vpbx_user_presence:sum{%s, state="ringing"})' % ENT, "ringing")),
                          thresholds=[{"color": "yellow", "value": None}]), 3, 4))
    p.append(L.place(stat("Do not disturb", "Users with CENTRAL_DND active.",
                          targets(('sum(enterprise:vpbx_user_feature_active:sum{%s, feature="CENTRAL_DND"})' % ENT, "DND")),
                          thresholds=[{"color": "orange", "value": None}]), 3, 4))
    p.append(L.place(stat("Call forward on", "Users with an unconditional call forward (CFU) active.",
                          targets(('sum(enterprise:vpbx_user_feature_active:sum{%s, feature="CALL_FORWARD_UNCONDITIONAL"})' % ENT, "CFU")),
                          thresholds=[{"color": "purple", "value": None}]), 3, 4))
    p.append(L.place(stat("Missed calls", "Incoming calls not answered in the dashboard's time range.",
                          targets(('sum(increase(vpbx_user_calls_total{%s, direction="incoming", answered="false"}[$__range]))' % ENT, "missed")),
                          unit="short", thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}]), 3, 4))

    p.append(L.row("Presence and features"))
    p.append(L.place(timeseries("Presence", "Users per presence state.",
                                targets(('sum by (state) (enterprise:vpbx_user_presence:sum{%s})' % ENT, "{{state}}")),
                                stack=True), 12, 8))
    p.append(L.place(timeseries("DND and call forwards", "Users with each feature active.",
                                targets(('sum by (feature) (enterprise:vpbx_user_feature_active:sum{%s})' % ENT, "{{feature}}"))),
                     12, 8))

    p.append(L.row("Calls"))
    p.append(L.place(timeseries("Calls per hour by direction", "Call rate (5 min average) as calls per hour.",
                                targets(('sum by (direction) (enterprise:vpbx_user_calls:rate5m{%s}) * 3600' % ENT, "{{direction}}")),
                                unit="short"), 12, 8))
    p.append(L.place(timeseries("Minutes per hour by direction", "Call minutes per hour (5 min average).",
                                targets(('sum by (direction) (enterprise:vpbx_user_call_duration_seconds:rate5m{%s}) * 60' % ENT, "{{direction}}")),
                                unit="short"), 12, 8))
    p.append(L.place(stat("Answered ratio", "Share of calls answered (duration > 0) in the time range.",
                          targets(('sum(increase(vpbx_user_calls_total{%s, answered="true"}[$__range])) / sum(increase(vpbx_user_calls_total{%s}[$__range]))' % (ENT, ENT), "answered")),
                          unit="percentunit",
                          thresholds=[{"color": "red", "value": None}, {"color": "orange", "value": 0.7}, {"color": "green", "value": 0.85}]), 4, 8))
    p.append(L.place(timeseries("Missed calls per hour", "Unanswered incoming calls per hour (5 min average), and the answered ratio of incoming calls.",
                                targets(('sum(enterprise:vpbx_user_calls:rate5m{%s, direction="incoming", answered="false"}) * 3600' % ENT, "missed per hour")),
                                unit="short"), 10, 8))
    p.append(L.place(timeseries("Answered ratio over time", "Answered share of all calls (5 min average).",
                                targets(('sum(enterprise:vpbx_user_calls:rate5m{%s, answered="true"}) / sum(enterprise:vpbx_user_calls:rate5m{%s})' % (ENT, ENT), "answered")),
                                unit="percentunit"), 10, 8))

    p.append(L.row("Top users"))
    p.append(L.place(bargauge("Top users by calls", "Most calls in the time range. Click a bar for the user's dashboard.",
                              targets(('topk(10, sum by (enterprise, user) (increase(vpbx_user_calls_total{%s}[$__range])))' % USR, "{{user}}"), instant=True),
                              unit="short", links=USER_LINK), 12, 9))
    p.append(L.place(bargauge("Top users by minutes", "Most call minutes in the time range. Click a bar for the user's dashboard.",
                              targets(('topk(10, sum by (enterprise, user) (increase(vpbx_user_call_duration_seconds_total{%s}[$__range])) / 60)' % USR, "{{user}}"), instant=True),
                              unit="short", links=USER_LINK), 12, 9))

    p.append(L.row("Push and API"))
    p.append(L.place(timeseries("Push events per second by type", "Events received on the webhook, by resource type.",
                                targets(('sum by (resource_type) (rate(vpbx_webhook_events_total{%s}[$__rate_interval]))' % SEL, "{{resource_type}}")),
                                unit="short"), 8, 8))
    p.append(L.place(timeseries("API requests per second by code", "Requests to the platform's API (5 min average).",
                                targets(('sum by (code) (instance:vpbx_api_requests:rate5m{%s})' % SEL, "{{code}}")),
                                unit="reqps", stack=True), 8, 8))
    p.append(L.place(timeseries("API error ratio", "Share of API requests that failed (5 min average; 401/403 excluded, they have their own alert).",
                                targets(('max by (instance) (instance:vpbx_api_requests_errors:ratio_rate5m{%s})' % SEL, "{{instance}}")),
                                unit="percentunit"), 8, 8))
    return dashboard("vpbx-overview", "VPBX / Overview",
                     "Platform health, who is on the phone, DND and call forwards, calls and minutes, push and API.",
                     p, True, "multi")


def user_room():
    L = Layout()
    p = []
    p.append(L.row("Now"))
    p.append(L.place(table("Identity", "The user's ids (vpbx_user_info).",
                           [target('vpbx_user_info{%s}' % USR, "", instant=True, fmt="table")],
                           exclude=("Value",)), 12, 4))
    p.append(L.place(stat("Presence", "Current presence state.",
                          targets(('max by (state) (vpbx_user_presence{%s}) == 1' % USR, "{{state}}")),
                          text_mode="name", color_mode="none"), 4, 4))
    p.append(L.place(stat("Do not disturb", "CENTRAL_DND now.",
                          targets(('max(vpbx_user_feature_active{%s, feature="CENTRAL_DND"})' % USR, "DND")),
                          mappings=on_off("ON", "orange", "off", "green"), color_mode="background"), 4, 4))
    p.append(L.place(stat("Call forward (CFU)", "CALL_FORWARD_UNCONDITIONAL now.",
                          targets(('max(vpbx_user_feature_active{%s, feature="CALL_FORWARD_UNCONDITIONAL"})' % USR, "CFU")),
                          mappings=on_off("ON", "purple", "off", "green"), color_mode="background"), 4, 4))

    p.append(L.row("Over time"))
    p.append(L.place(state_timeline("Presence over time", "One row per state, colored while the user is in it.",
                                    targets(('max by (state) (vpbx_user_presence{%s})' % USR, "{{state}}")),
                                    on_off("", "blue")), 24, 7))
    p.append(L.place(state_timeline("DND / CFU / CFB over time", "Do-not-disturb and call forwards, colored while active.",
                                    targets(('max by (feature) (vpbx_user_feature_active{%s, feature=~"%s"})' % (USR, WATCHED), "{{feature}}")),
                                    on_off("on", "orange")), 24, 6))

    p.append(L.row("Calls"))
    p.append(L.place(stat("Calls by direction", "Calls in the time range.",
                          targets(('sum by (direction) (increase(vpbx_user_calls_total{%s}[$__range]))' % USR, "{{direction}}")),
                          unit="short", color_mode="none"), 6, 5))
    p.append(L.place(stat("Minutes by direction", "Call minutes in the time range.",
                          targets(('sum by (direction) (increase(vpbx_user_call_duration_seconds_total{%s}[$__range])) / 60' % USR, "{{direction}}")),
                          unit="short", color_mode="none"), 6, 5))
    p.append(L.place(stat("Average call duration", "Mean length of the answered calls in the time range.",
                          targets(('sum(increase(vpbx_user_call_duration_seconds_total{%s}[$__range])) / sum(increase(vpbx_user_calls_total{%s, answered="true"}[$__range]))' % (USR, USR), "average")),
                          unit="s", color_mode="none", no_value="no answered call"), 6, 5))
    p.append(L.place(stat("Missed calls", "Incoming calls not answered in the time range.",
                          targets(('sum(increase(vpbx_user_calls_total{%s, direction="incoming", answered="false"}[$__range]))' % USR, "missed")),
                          unit="short", thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}]), 6, 5))
    p.append(L.place(timeseries("Calls per hour", "Calls per hour by direction and answer.",
                                targets(('sum by (direction, answered) (rate(vpbx_user_calls_total{%s}[$__rate_interval])) * 3600' % USR, "{{direction}} answered={{answered}}")),
                                unit="short", stack=True), 12, 8))
    p.append(L.place(timeseries("Minutes per hour", "Call minutes per hour by direction.",
                                targets(('sum by (direction) (rate(vpbx_user_call_duration_seconds_total{%s}[$__rate_interval])) * 60' % USR, "{{direction}}")),
                                unit="short", stack=True), 12, 8))
    p.append(L.place(timeseries("Feature changes", "Status changes of DND and call forwards seen in the time range.",
                                targets(('sum by (feature) (increase(vpbx_user_feature_changes_total{%s, feature=~"%s"}[$__rate_interval]))' % (USR, WATCHED), "{{feature}}")),
                                unit="short", bars=True, no_value="no change"), 24, 6))
    return dashboard("vpbx-user", "VPBX / User - room",
                     "One user or hotel room: presence and DND / call forwards over time, calls, minutes, average duration, missed calls.",
                     p, True, "single")


def exporter_health():
    L = Layout()
    p = []
    p.append(L.row("Status"))
    p.append(L.place(stat("Scrape", "Prometheus' own up for the exporter.",
                          targets(('min(up{%s})' % PROC, "up")), mappings=UP_DOWN,
                          thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}],
                          color_mode="background"), 4, 4))
    p.append(L.place(stat("Platform API", "vpbx_up: the last v1/system/server call.",
                          targets(('min(vpbx_up{%s})' % SEL, "API")), mappings=UP_DOWN,
                          thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}],
                          color_mode="background"), 4, 4))
    p.append(L.place(stat("Last config reload", "0 after a refused reload: the old config still runs.",
                          targets(('min(vpbx_config_last_reload_successful{%s})' % PROC, "reload")),
                          mappings=[{"type": "value", "options": {"0": {"text": "FAILED", "color": "red", "index": 0},
                                                                  "1": {"text": "OK", "color": "green", "index": 1}}}],
                          color_mode="background"), 4, 4))
    p.append(L.place(stat("Exporter version", "vpbx_exporter_build_info.",
                          targets(('max by (version, revision) (vpbx_exporter_build_info{%s})' % PROC, "{{version}} ({{revision}})")),
                          text_mode="name", color_mode="none"), 4, 4))
    p.append(L.place(stat("Uptime", "Since the exporter's process started.",
                          targets(('min(time() - process_start_time_seconds{%s})' % PROC, "uptime")),
                          unit="s", color_mode="none"), 4, 4))
    p.append(L.place(stat("Users by source", "Configured and learnt users.",
                          targets(('sum by (source) (vpbx_users{%s})' % SEL, "{{source}}")),
                          color_mode="none"), 4, 4))

    p.append(L.row("Platform API"))
    p.append(L.place(timeseries("API requests by endpoint and code", "Attempts per second, retries included.",
                                targets(('sum by (endpoint, code) (rate(vpbx_api_requests_total{%s}[$__rate_interval]))' % SEL, "{{endpoint}} {{code}}")),
                                unit="reqps"), 8, 8))
    p.append(L.place(timeseries("API errors by endpoint", "Non-2xx answers, timeouts and transport errors per second.",
                                targets(('sum by (endpoint, code) (rate(vpbx_api_requests_total{%s, code!~"2.."}[$__rate_interval]))' % SEL, "{{endpoint}} {{code}}")),
                                unit="reqps", no_value="no error"), 8, 8))
    p.append(L.place(timeseries("API latency by endpoint", "95th and 50th percentile.",
                                targets(('histogram_quantile(0.95, sum by (endpoint, le) (rate(vpbx_api_request_duration_seconds_bucket{%s}[$__rate_interval])))' % SEL, "p95 {{endpoint}}"),
                                        ('histogram_quantile(0.5, sum by (endpoint, le) (rate(vpbx_api_request_duration_seconds_bucket{%s}[$__rate_interval])))' % SEL, "p50 {{endpoint}}")),
                                unit="s"), 8, 8))

    p.append(L.row("Collectors"))
    p.append(L.place(timeseries("Collector durations", "The last poll (system) or sweep (presence, features, call_logs).",
                                targets(('max by (collector) (vpbx_collector_duration_seconds{%s})' % SEL, "{{collector}}")),
                                unit="s"), 6, 8))
    p.append(L.place(timeseries("Time since last success", "Age of each collector's last poll or sweep without failure.",
                                targets(('max by (collector) (time() - vpbx_collector_last_success_timestamp_seconds{%s})' % SEL, "{{collector}}")),
                                unit="s"), 6, 8))
    p.append(L.place(timeseries("Sweep overruns", "Sweeps longer than their interval (raise the interval or the rate limit).",
                                targets(('sum by (collector) (increase(vpbx_collector_sweep_overrun_total{%s}[$__rate_interval]))' % SEL, "{{collector}}")),
                                unit="short", bars=True), 6, 8))
    p.append(L.place(timeseries("Collector errors", "Failed polls.",
                                targets(('sum by (collector) (increase(vpbx_collector_errors_total{%s}[$__rate_interval]))' % SEL, "{{collector}}")),
                                unit="short", bars=True), 6, 8))

    p.append(L.row("Push: webhook and subscriptions"))
    p.append(L.place(timeseries("Webhook answers by code", "HTTP answers of the push receiver per second.",
                                targets(('sum by (code) (rate(vpbx_webhook_requests_total{%s}[$__rate_interval]))' % SEL, "{{code}}")),
                                unit="reqps"), 8, 8))
    p.append(L.place(timeseries("Webhook events by type and outcome", "Events in pushes per second: applied, duplicate, invalid, ...",
                                targets(('sum by (resource_type, outcome) (rate(vpbx_webhook_events_total{%s}[$__rate_interval]))' % SEL, "{{resource_type}} {{outcome}}")),
                                unit="short"), 8, 8))
    p.append(L.place(timeseries("Time since last push", "Age of the newest push per resource type.",
                                targets(('max by (resource_type) (time() - vpbx_last_event_timestamp_seconds{%s})' % SEL, "{{resource_type}}")),
                                unit="s"), 8, 8))
    p.append(L.place(bargauge("Subscription expiry countdown", "Time left before each managed subscription expires (renewed before it reaches 0).",
                              targets(('min by (resource_type) (vpbx_subscription_expiry_timestamp_seconds{%s} - time())' % SEL, "{{resource_type}}"), instant=True),
                              unit="s"), 8, 6))
    p.append(L.place(stat("Subscriptions and push health", "1 = live subscription / push healthy, per resource type.",
                          targets(('min by (resource_type) (vpbx_subscription_active{%s})' % SEL, "subscription {{resource_type}}"),
                                  ('min by (resource_type) (vpbx_push_healthy{%s})' % SEL, "push {{resource_type}}")),
                          mappings=on_off("OK", "green", "NO", "red"), color_mode="background", text_mode="value_and_name"), 8, 6))
    p.append(L.place(timeseries("Subscription operations", "Creations, renewals and deletions, by outcome.",
                                targets(('sum by (operation, outcome) (increase(vpbx_subscription_operations_total{%s}[$__rate_interval]))' % SEL, "{{operation}} {{outcome}}")),
                                unit="short", bars=True), 8, 6))

    p.append(L.row("Call logs: push, poll and duplicates"))
    p.append(L.place(timeseries("Call logs received by source and outcome", "Every call log seen, and what became of it.",
                                targets(('sum by (source, outcome) (rate(vpbx_call_logs_received_total{%s}[$__rate_interval]))' % SEL, "{{source}} {{outcome}}")),
                                unit="short"), 12, 8))
    p.append(L.place(stat("Duplicates absorbed", "Call logs and push events seen again and not counted twice, in the time range.",
                          targets(('sum by (source) (increase(vpbx_call_logs_received_total{%s, outcome="duplicate"}[$__range]))' % SEL, "call logs via {{source}}"),
                                  ('sum(increase(vpbx_webhook_events_total{%s, outcome="duplicate"}[$__range]))' % SEL, "push events")),
                          unit="short", color_mode="none", text_mode="value_and_name"), 12, 8))

    p.append(L.row("Process"))
    p.append(L.place(timeseries("CPU", "CPU seconds per second.",
                                targets(('sum by (instance) (rate(process_cpu_seconds_total{%s}[$__rate_interval]))' % PROC, "{{instance}}")),
                                unit="percentunit"), 8, 7))
    p.append(L.place(timeseries("Memory", "Resident and virtual memory.",
                                targets(('sum by (instance) (process_resident_memory_bytes{%s})' % PROC, "resident {{instance}}"),
                                        ('sum by (instance) (process_virtual_memory_bytes{%s})' % PROC, "virtual {{instance}}")),
                                unit="bytes"), 8, 7))
    p.append(L.place(timeseries("File descriptors", "Open and maximum.",
                                targets(('sum by (instance) (process_open_fds{%s})' % PROC, "open {{instance}}"),
                                        ('sum by (instance) (process_max_fds{%s})' % PROC, "max {{instance}}")),
                                unit="short"), 8, 7))
    return dashboard("vpbx-exporter-health", "VPBX / Exporter health",
                     "The exporter itself: API latency and errors, collectors, webhook, subscriptions, duplicates, process.",
                     p, False, None, refresh="1m")


DASHBOARDS = {"vpbx-overview.json": overview, "vpbx-user.json": user_room,
              "vpbx-exporter-health.json": exporter_health}


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for name, build in DASHBOARDS.items():
        text = json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
        path = os.path.join(HERE, name)
        if check:
            try:
                with open(path, encoding="utf-8") as f:
                    if f.read() != text:
                        stale.append(name)
            except OSError:
                stale.append(name)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if stale:
        print("out of date, run dashboards/generate.py: " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
