#!/usr/bin/env python3
"""A 10k-user /metrics, parsed by an independent parser, against the store's own content.

Starts vpbx_test_store_server (a store of USERS users served by the exporter's http::Server),
scrapes /metrics plain and gzip, parses the text with prometheus_client's parser (Debian's
python3-prometheus-client) and compares every sample of the store's families with the store's
state file (its JSON) and the fixture's rules; then runs `promtool check metrics` on it.
  check_exposition.py BINARY_DIR [USERS]
"""
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

BOUNDS = ["5", "15", "30", "60", "120", "300", "600", "1200", "1800", "3600", "+Inf"]
DIRECTIONS = ["incoming", "outgoing", "other"]
STATES = ["idle", "busy", "ringing", "offline", "unknown"]
STORE_FAMILIES = {
    "vpbx_users", "vpbx_user_info", "vpbx_user_presence", "vpbx_user_feature_active",
    "vpbx_user_feature_destination_info", "vpbx_user_feature_changes", "vpbx_user_calls",
    "vpbx_user_call_duration_seconds", "vpbx_call_duration_seconds", "vpbx_call_logs_received",
    "vpbx_presence_unmapped_states"}


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def fetch(port, gzipped):
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port)
    if gzipped:
        req.add_header("Accept-Encoding", "gzip")
    with urllib.request.urlopen(req, timeout=60) as r:
        body = r.read()
        if gzipped:
            if r.headers.get("Content-Encoding") != "gzip":
                fail("no gzip answer to Accept-Encoding: gzip")
            body = gzip.decompress(body)
        return body.decode("utf-8")


def fixture_name(i):
    """The fixture's naming rule (tests/exposition/store_server.cpp)."""
    if i % 97 == 5:
        return 'Suite "%d" \\ east\nwing' % i
    if i % 89 == 7:
        return "Chambre %d — vue lac" % i
    if i % 5 != 4:
        return "Room %d" % (101 + i)
    return ""


def expected_samples(state, users):
    """Every sample of the store's families, from the state file and the fixture's rules."""
    want = {}

    def put(name, labels, value):
        key = (name, frozenset(labels.items()))
        if key in want:
            fail("expected twice: %r" % (key,))
        want[key] = float(value)

    by_id = {u["user_id"]: u for u in state["users"]}
    if len(by_id) != users:
        fail("the state file holds %d users, not %d" % (len(by_id), users))
    put("vpbx_users", {"source": "config"}, users)
    put("vpbx_users", {"source": "discovered"}, 0)
    unmapped = 0
    total_calls = 0
    for i in range(users):
        user_id = 176125 + i
        u = by_id[user_id]
        number = "+%d" % (41225662194 + i)
        name = fixture_name(i)
        label = name or number
        base = {"enterprise": u["enterprise"], "user": label}
        put("vpbx_user_info", dict(base, user_id=str(user_id), login=u["login"], number=number,
                                   name=name), 1)
        for s in STATES:
            put("vpbx_user_presence", dict(base, state=s), 1 if u["presence"] == s else 0)
        if i % 11 != 10 and i % 5 == 4:
            unmapped += 1
        for feature, f in u["features"].items():
            put("vpbx_user_feature_active", dict(base, feature=feature),
                1 if f["status"] == "ACTIVE" else 0)
            if f["destination"]:
                put("vpbx_user_feature_destination_info",
                    dict(base, feature=feature, destination=f["destination"]), 1)
        if i % 6 == 2:
            put("vpbx_user_feature_changes_total", dict(base, feature="CENTRAL_DND"), 1)
        for d, direction in enumerate(DIRECTIONS):
            missed, answered = u["calls"][d]
            total_calls += missed + answered
            if direction == "other" and missed == 0 and answered == 0:
                continue
            put("vpbx_user_calls_total", dict(base, direction=direction, answered="false"), missed)
            put("vpbx_user_calls_total", dict(base, direction=direction, answered="true"), answered)
            put("vpbx_user_call_duration_seconds_total", dict(base, direction=direction),
                u["duration_seconds"][d])
    histograms = {(h["enterprise"], DIRECTIONS[h["direction"]]): h for h in state["histograms"]}
    for enterprise in sorted({u["enterprise"] for u in state["users"]}):
        for direction in DIRECTIONS:
            h = histograms.get((enterprise, direction))
            if direction == "other" and h is None:
                continue
            labels = {"enterprise": enterprise, "direction": direction}
            put("vpbx_call_duration_seconds_count", labels, h["count"] if h else 0)
            put("vpbx_call_duration_seconds_sum", labels, h["sum"] if h else 0)
            cumulative = 0
            for b, bound in enumerate(BOUNDS):
                cumulative += h["buckets"][b] if h else 0
                put("vpbx_call_duration_seconds_bucket", dict(labels, le=bound), cumulative)
    for source in ("poll", "push"):
        for outcome in ("counted", "duplicate", "unknown_user", "invalid"):
            value = total_calls if (source, outcome) == ("poll", "counted") else 0
            put("vpbx_call_logs_received_total", {"source": source, "outcome": outcome}, value)
    put("vpbx_presence_unmapped_states_total", {}, unmapped)
    return want


def parsed_samples(text):
    got = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith("vpbx_http_"):  # the server's own, not the store's
            continue
        if family.name not in STORE_FAMILIES:
            fail("unexpected family %s" % family.name)
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            labels = dict(s.labels)
            if "le" in labels:  # the parser keeps le as written; compare as the text has it
                labels["le"] = labels["le"].replace(".0", "") if labels["le"] != "+Inf" else "+Inf"
            key = (s.name, frozenset(labels.items()))
            if key in got:
                fail("sample twice in the scrape: %r" % (key,))
            got[key] = s.value
    return got


def main():
    binary_dir = sys.argv[1]
    users = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    server = os.path.join(binary_dir, "tests", "vpbx_test_store_server")
    with tempfile.TemporaryDirectory() as tmp:
        state_path = os.path.join(tmp, "state.json")
        proc = subprocess.Popen([server, str(users), state_path], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            if not line.startswith("port="):
                fail("the store server did not start: %r" % line)
            port = int(line.strip().split("=")[1])
            plain = fetch(port, False)
            zipped = fetch(port, True)
            again = fetch(port, False)
        finally:
            proc.stdin.close()
            proc.wait(timeout=60)
        with open(state_path) as f:
            state = json.load(f)
        if zipped != plain:
            fail("the gzip body is not the plain body")
        if again != plain:
            fail("two scrapes of an unchanged store differ (order not stable)")
        try:
            got = parsed_samples(plain)
        except ValueError as e:
            fail("the parser refused the text: %s" % e)
        want = expected_samples(state, users)
        missing = [k for k in want if k not in got]
        extra = [k for k in got if k not in want]
        wrong = [(k, got[k], want[k]) for k in want if k in got and got[k] != want[k]]
        for what, items in (("missing", missing), ("unexpected", extra), ("wrong value", wrong)):
            if items:
                fail("%d samples %s, e.g. %r" % (len(items), what, items[:3]))
        print("ok: %d users, %d samples, %d bytes, every sample equal to the store's" %
              (users, len(got), len(plain)))
        promtool = shutil.which("promtool")
        if promtool:
            path = os.path.join(tmp, "metrics.txt")
            with open(path, "w") as f:
                f.write(plain)
            with open(path) as f:
                r = subprocess.run([promtool, "check", "metrics"], stdin=f, capture_output=True,
                                   text=True)
            if r.returncode != 0:
                fail("promtool check metrics: %s%s" % (r.stdout, r.stderr))
            print("ok: promtool check metrics is clean")


if __name__ == "__main__":
    main()
