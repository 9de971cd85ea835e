#!/usr/bin/env python3
"""End to end, scaled out, on loopback: vpbx_simulator -> two vpbx_exporter shards
(--shard.index=0|1 --shard.count=2, each with its own webhook URL and managed subscriptions) ->
one real Prometheus with deploy/scale-out/'s config and recording rules.

    tests/e2e/scale_out.py BUILD_DIR SOURCE_DIR      (ctest runs it)

It asserts that
  1. each shard holds some of the users and none holds another's (vpbx_user_info);
  2. after calls injected into the simulator (a fifth of their pushes dropped, so the enterprise
     call-log polls count some, and skip the other shard's calls as other_shard), the recording
     rules' sums across the shards equal the simulator's truth, per user and in total, for calls
     and call seconds;
  3. `promtool check metrics` is clean on both shards; vpbx:shards:count is 2 and every rule
     evaluates without error.

Test-only rewrites of deploy/scale-out/prometheus.yml: 1 s scrape and evaluation, the targets are
the two exporters, the rule file is the source tree's, remote_write is removed (no store to write
to). Exit 0 passed, 1 failed, 77 skipped (prometheus or promtool missing).
"""
import json
import os
import random
import subprocess
import sys
import time
import urllib.parse

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import (APP_ID, PASSWORD, STARTUP_TIMEOUT, WEBHOOK_TOKEN, Failure,  # noqa: E402
                 all_built, find_tool, free_port, get_json, http, log, run_test, wait_for,
                 warm_page_cache)

SHARDS = 2
USERS = 10
CALLS = 60


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    build, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    exporter = os.path.join(build, "exporter", "vpbx_exporter")
    simulator = os.path.join(build, "simulator", "vpbx_simulator")
    prometheus, promtool = find_tool("prometheus"), find_tool("promtool")
    if not prometheus or not promtool:
        print("SKIPPED: prometheus or promtool not installed (Debian package prometheus)")
        return 77
    if not all_built(exporter, simulator):
        return 1
    return run_test("vpbx-scale-out-", lambda tmp, procs: run(
        tmp, procs, src, exporter, simulator, prometheus, promtool))


def prometheus_config(src, dst, targets):
    with open(os.path.join(src, "deploy", "scale-out", "prometheus.yml")) as f:
        config = yaml.safe_load(f)
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [os.path.join(src, "deploy", "scale-out", name)
                            for name in config["rule_files"]]
    job = config["scrape_configs"][0]
    if len(job["static_configs"]) != len(targets):
        raise Failure("deploy/scale-out/prometheus.yml has %d shards, the test runs %d"
                      % (len(job["static_configs"]), len(targets)), show_logs=False)
    for static, target in zip(job["static_configs"], targets):
        static["targets"] = [target]
    del config["remote_write"]
    with open(dst, "w") as f:
        yaml.safe_dump(config, f)


def run(tmp, procs, src, exporter, simulator, prometheus, promtool):
    warm_page_cache([prometheus, promtool])
    sim_port, prom_port = free_port(), free_port()
    exp_ports = [free_port() for _ in range(SHARDS)]
    sim = "http://127.0.0.1:%d" % sim_port
    prom = "http://127.0.0.1:%d" % prom_port
    instances = ["127.0.0.1:%d" % p for p in exp_ports]

    with open(os.path.join(tmp, "password"), "w") as f:
        f.write(PASSWORD + "\n")
    procs.start("simulator", [simulator, "--web.listen-address=127.0.0.1:%d" % sim_port,
                              "--users=%d" % USERS, "--password-file=" + os.path.join(tmp, "password"),
                              "--application-id=" + APP_ID, "--calls-per-second=0",
                              "--feature-toggles-per-second=0", "--seed=11",
                              "--fault.push-drop-ratio=0.2",
                              "--users-csv-out=" + os.path.join(tmp, "users.csv")])
    wait_for("the simulator's users.csv", lambda: os.path.getsize(os.path.join(tmp, "users.csv")) > 0, 10, 0.1)

    # One config per shard: its own webhook URL (so that its manager never takes the other's
    # subscriptions for its own); the shard itself comes from the flags.
    for index, instance in enumerate(instances):
        with open(os.path.join(tmp, "shard-%d.yml" % index), "w") as f:
            f.write("""api:
  url: %(sim)s/openapi/
  username: openapi@291908.bus.ent
  password_file: password
  application_id: %(app)s
  max_requests_per_second: 50
  timeout: 2s
users_file: users.csv
enterprises: [291908.bus.ent]
poll: { server: 1s, presence: 2s, features: 2s, call_logs: 1s, fallback: 2s }
call_logs: { overlap: 10m }
webhook:
  token: %(token)s
  public_url: http://%(instance)s/webhook/{token}
subscriptions:
  manage: true
state_file: state-%(index)d.json
""" % {"sim": sim, "app": APP_ID, "token": WEBHOOK_TOKEN, "instance": instance, "index": index})
        procs.start("exporter-%d" % index,
                    [exporter, "--config.file=" + os.path.join(tmp, "shard-%d.yml" % index),
                     "--web.listen-address=" + instance, "--shard.index=%d" % index,
                     "--shard.count=%d" % SHARDS])
    for index, instance in enumerate(instances):
        procs.wait_ready("exporter-%d" % index, "http://%s/-/ready" % instance, STARTUP_TIMEOUT)

    prometheus_config(src, os.path.join(tmp, "prometheus.yml"), instances)
    out = subprocess.run([promtool, "check", "config", os.path.join(tmp, "prometheus.yml")],
                         capture_output=True, text=True)
    if out.returncode:
        raise Failure("promtool check config:\n" + out.stdout + out.stderr)
    procs.start("prometheus", [prometheus, "--config.file=" + os.path.join(tmp, "prometheus.yml"),
                               "--storage.tsdb.path=" + os.path.join(tmp, "prom-data"),
                               "--web.listen-address=127.0.0.1:%d" % prom_port])
    procs.wait_ready("prometheus", prom + "/-/ready", STARTUP_TIMEOUT)

    def query(expr):
        r = get_json(prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        if r.get("status") != "success":
            raise Failure("query failed: %s: %s" % (expr, r))
        return r["data"]["result"]

    # 1. The users are split, each held once.
    truth_users = get_json(sim + "/_sim/truth")["users"]
    holders = {}
    per_shard = {}
    for s in wait_for("vpbx_user_info of both shards",
                      lambda: len(query("vpbx_user_info")) == len(truth_users) and query("vpbx_user_info"), 60):
        holders.setdefault(s["metric"]["user_id"], []).append(s["metric"]["shard"])
        per_shard[s["metric"]["shard"]] = per_shard.get(s["metric"]["shard"], 0) + 1
    if sorted(holders) != sorted(str(u["userId"]) for u in truth_users) or \
            any(len(v) != 1 for v in holders.values()) or len(per_shard) != SHARDS:
        raise Failure("users not split once across the shards: %s" % holders)
    log("users per shard: %s" % per_shard)

    # Each shard's first call-log sweep fixes where its counting starts; calls come after it.
    def swept(instance):
        prefix = 'vpbx_collector_last_success_timestamp_seconds{collector="call_logs"} '
        for line in http("GET", "http://%s/metrics" % instance)[1].decode().splitlines():
            if line.startswith(prefix):
                return float(line[len(prefix):]) > 0
        return False
    for instance in instances:
        wait_for("%s's first call-log sweep" % instance, lambda: swept(instance), 60, 0.2)
    time.sleep(1.1)  # callStart has whole seconds

    # 2. Calls, then the sums across the shards against the truth.
    rnd = random.Random(3)
    for _ in range(CALLS):
        user = rnd.choice(truth_users)
        http("POST", sim + "/_sim/calls", {"userId": user["userId"],
                                            "direction": rnd.choice(["INCOMING", "OUTGOING"]),
                                            "duration": 0 if rnd.random() < 0.25 else rnd.randrange(1, 600)})
        time.sleep(0.03)
    truth = get_json(sim + "/_sim/truth")["users"]
    want_calls = {str(u["userId"]): float(u["calls"]) for u in truth}
    want_seconds = {str(u["userId"]): float(u["durationSeconds"]) for u in truth}
    if sum(want_calls.values()) != CALLS:
        raise Failure("the simulator holds %s calls, not %d" % (sum(want_calls.values()), CALLS))

    def by_user_id(expr):
        ids = {s["metric"]["user"]: s["metric"]["user_id"] for s in query("vpbx_user_info")}
        return {ids[s["metric"]["user"]]: float(s["value"][1])
                for s in query("sum by (user) (%s)" % expr)}

    last = {}

    def sums_equal_truth():
        last["calls"] = by_user_id("vpbx:user_calls_total:sum_shards")
        last["seconds"] = by_user_id("vpbx:user_call_duration_seconds_total:sum_shards")
        return last["calls"] == want_calls and last["seconds"] == want_seconds
    try:
        wait_for("the summed counters to equal the truth", sums_equal_truth, 60)
    except Failure:
        raise Failure("sums across the shards differ from the truth:\n  calls %s\n  want  %s\n"
                      "  seconds %s\n  want    %s" % (last.get("calls"), want_calls,
                                                      last.get("seconds"), want_seconds))
    total = float(query("sum(vpbx:user_calls_total:sum_shards)")[0]["value"][1])
    log("sum over %d shards of vpbx_user_calls_total: %d calls, as the simulator's truth" % (SHARDS, total))
    skipped = float(query('sum(vpbx_call_logs_received_total{outcome="other_shard"})')[0]["value"][1])
    if skipped <= 0:
        raise Failure("no shard skipped another's call in the enterprise's call logs")
    log("call logs of the other shard skipped by the enterprise polls: %d" % skipped)

    # A sharded replica's /metrics (vpbx_shard_info, other_shard) is as clean as one shard's.
    for instance in instances:
        body = http("GET", "http://%s/metrics" % instance)[1]
        out = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True)
        if out.returncode or out.stdout.strip() or out.stderr.strip():
            raise Failure("promtool check metrics on %s:\n%s" % (instance, (out.stdout + out.stderr).decode(errors="replace")))
    log("promtool check metrics: clean on both shards")

    # 3. Both shards answer, every rule evaluates.
    wait_for("vpbx:shards:count == 2",
             lambda: query("vpbx:shards:count")[0]["value"][1] == str(SHARDS), 30)
    bad = ["%s: %s %s" % (r["name"], r.get("health"), r.get("lastError", ""))
           for g in get_json(prom + "/api/v1/rules")["data"]["groups"] for r in g["rules"]
           if r.get("health") != "ok"]
    if bad:
        raise Failure("rules with errors:\n  " + "\n  ".join(bad))
    procs.check_alive()
    log("every scale-out rule evaluates without error")


if __name__ == "__main__":
    sys.exit(main())
