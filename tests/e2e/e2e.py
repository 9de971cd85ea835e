#!/usr/bin/env python3
"""End to end, on loopback: vpbx_simulator (live traffic) -> vpbx_exporter -> a real Prometheus
(1 s scrape and rule evaluation, the shipped rules) -> a real Alertmanager (the shipped example
config) -> a webhook receiver in this script.

    tests/e2e/e2e.py BUILD_DIR SOURCE_DIR      (or tests/e2e/run_e2e.sh, which ctest runs)

It asserts that
  1. `promtool check metrics` finds nothing to say about the exporter's /metrics;
  2. a user left in do-not-disturb past the threshold raises VpbxUserFeatureActiveTooLong, and only
     after the threshold;
  3. when the platform's API breaks (simulator fault api_error_ratio=1), VpbxPlatformApiDown and
     VpbxApiErrorRatioHigh arrive in Alertmanager's API (GET /api/v2/alerts), and Alertmanager
     routes them to the example config's receivers;
  4. every rule evaluates without error;
  5. every query of every dashboard panel, and every dashboard variable, returns data from that
     Prometheus ($__rate_interval=1m, $__range=10m, $job/$instance/$enterprise/$user = real values, $account = All, .*).

Test-only rewrites of the shipped files, so that it runs in about a minute and a half:
  * rules: every `for: <duration>` becomes `for: 3s`; in vpbx_exporter.thresholds.yml every
    `vector(N)` becomes `vector(E2E_FEATURE_THRESHOLD)` (10 s).
  * alertmanager.yml: group_wait 1s, group_interval 1s, receivers' URLs point at this script.
Ports are picked free on 127.0.0.1; everything started is stopped and the temporary folder is
removed (kept with E2E_KEEP=1). Exit 0 passed, 1 failed, 77 skipped (a tool is missing).
"""
import glob
import http.server as httpserver
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

FEATURE_THRESHOLD = 10  # seconds, replaces the thresholds' vector(N) in the test copy
FOR_DURATION = "3s"
RATE_INTERVAL = "1m"
RANGE = "10m"
APP_ID = "71c177e5-7417-4265-b97f-4595016dceb8"
PASSWORD = "e2e-password"
WEBHOOK_TOKEN = "e2e-token-0123456789abcdef"
# Deadline for a started process to answer /-/ready. Generous, since waiting costs nothing when
# all is well, and a shared machine's cold disk can stall a process's start for many seconds.
STARTUP_TIMEOUT = 120
T0 = time.monotonic()


def log(msg):
    print("[e2e %6.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


class Failure(Exception):
    def __init__(self, msg, show_logs=True):
        super().__init__(msg)
        self.show_logs = show_logs


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, timeout=5):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def get_json(url, timeout=5):
    return json.loads(http("GET", url, timeout=timeout)[1])


def wait_for(what, fn, timeout, interval=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = fn()
            if result:
                return result
        except (OSError, urllib.error.URLError, ValueError, KeyError) as e:
            last = e
        time.sleep(interval)
    raise Failure("timed out after %ss waiting for %s%s" % (timeout, what, " (last error: %s)" % last if last else ""))


def process_state(pid):
    """One line from /proc about a running process, for a failure message."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/%d/wchan" % pid) as f:
            wchan = f.read().strip() or "-"
    except OSError as e:
        return "no /proc entry (%s)" % e
    ticks = os.sysconf("SC_CLK_TCK")
    return "pid %d state %s, %.2fs CPU, %s major page faults, waiting in %s" % (
        pid, fields[0], (int(fields[11]) + int(fields[12])) / ticks, fields[9], wchan)


def warm_page_cache(paths):
    """Reads the binaries once, sequentially. On a fresh machine with a cold disk, the Go binaries'
    page faults alone kept Alertmanager from its first log line for over 20 s."""
    t = time.monotonic()
    size = 0
    for path in paths:
        with open(path, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                size += len(chunk)
    log("read %.0f MB of binaries in %.1fs" % (size / 1e6, time.monotonic() - t))


class Procs:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []

    def start(self, name, argv, cwd=None):
        logf = open(os.path.join(self.tmp, name + ".log"), "wb")
        p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, cwd=cwd or self.tmp,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append((name, p, logf))
        log("started %s (pid %d)" % (name, p.pid))
        return p

    def wait_ready(self, name, url, timeout):
        """Waits for 200 from url while the process named name lives; on a timeout the message
        says what the process was doing (state, CPU seconds, major page faults)."""
        proc = next(p for n, p, _ in self.procs if n == name)

        def ready():
            if proc.poll() is not None:
                raise Failure("%s exited early with code %s" % (name, proc.returncode))
            return http("GET", url)[0] == 200
        try:
            return wait_for("%s's %s" % (name, urllib.parse.urlparse(url).path), ready, timeout)
        except Failure as e:
            if proc.poll() is not None:
                raise
            raise Failure("%s; %s" % (e, process_state(proc.pid)))

    def check_alive(self):
        for name, p, _ in self.procs:
            if p.poll() is not None:
                raise Failure("%s exited early with code %s" % (name, p.returncode))

    def stop_all(self):
        for name, p, _ in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p, logf in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            logf.close()

    def dump_logs(self, lines=25):
        for name, _, _ in self.procs:
            path = os.path.join(self.tmp, name + ".log")
            try:
                with open(path, errors="replace") as f:
                    tail = f.readlines()[-lines:]
            except OSError:
                continue
            print("----- last %d lines of %s -----" % (len(tail), name))
            sys.stdout.writelines(tail)


class Receiver:
    """Alertmanager's webhook receivers: remembers (path, alertname, status) of each notification."""

    def __init__(self):
        self.got = []
        outer = self

        class H(httpserver.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    for a in json.loads(body).get("alerts", []):
                        outer.got.append((self.path, a["labels"].get("alertname"), a.get("status")))
                except ValueError:
                    pass
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = httpserver.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def find_tool(*names):
    for n in names:
        path = shutil.which(n)
        if path:
            return path
    return None


# ---------------------------------------------------------------- test copies of shipped files

def rewrite_rules(src, dst_dir):
    os.makedirs(dst_dir)
    for path in sorted(glob.glob(os.path.join(src, "alerts", "*.yml"))):
        with open(path) as f:
            text = f.read()
        text = re.sub(r"(?m)^(\s*for:\s*)\S+", r"\g<1>" + FOR_DURATION, text)
        if path.endswith("thresholds.yml"):
            text = re.sub(r"vector\(\d+\)", "vector(%d)" % FEATURE_THRESHOLD, text)
        with open(os.path.join(dst_dir, os.path.basename(path)), "w") as f:
            f.write(text)
    return sorted(glob.glob(os.path.join(dst_dir, "*.yml")))


def rewrite_alertmanager(src, dst, receiver_port):
    with open(os.path.join(src, "deploy", "alertmanager", "alertmanager.yml")) as f:
        text = f.read()
    text = re.sub(r"(?m)^(\s*group_wait:\s*)\S+", r"\g<1>1s", text)
    text = re.sub(r"(?m)^(\s*group_interval:\s*)\S+", r"\g<1>1s", text)
    text = text.replace("http://127.0.0.1:5001/", "http://127.0.0.1:%d/" % receiver_port)
    with open(dst, "w") as f:
        f.write(text)


# ---------------------------------------------------------------- dashboard queries

def regex_escape(value):
    # As Grafana's Prometheus data source escapes a variable's value inside =~"...".
    return re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\\\1", value)


def substitute(expr, variables):
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name == "__rate_interval":
            return RATE_INTERVAL
        if name in ("__range", "__interval"):
            return RANGE
        if name == "account":
            # Grafana's All (allValue .*): this exporter runs one implicit account, whose series
            # have no account label, and =~".*" must still match them.
            return ".*"
        if name in variables:
            return regex_escape(variables[name])
        raise Failure("unknown variable $%s in %s" % (name, expr))
    out = re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", repl, expr)
    return out


def dashboard_queries(src):
    """Yields (dashboard title, panel title, refId, expr, instant) and the variables' queries."""
    for path in sorted(glob.glob(os.path.join(src, "dashboards", "*.json"))):
        with open(path) as f:
            d = json.load(f)
        for v in d.get("templating", {}).get("list", []):
            if v.get("type") == "query":
                q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
                m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", q, re.S)
                if not m:
                    raise Failure("%s: variable %s: cannot run %r" % (d["title"], v["name"], q))
                yield d["title"], "variable $" + v["name"], "-", "group by (%s) (%s)" % (m.group(2), m.group(1)), True
        stack = list(d.get("panels", []))
        while stack:
            p = stack.pop(0)
            stack.extend(p.get("panels", []))
            for t in p.get("targets", []):
                if t.get("expr"):
                    yield d["title"], p.get("title", "?"), t.get("refId", "?"), t["expr"], bool(t.get("instant")) and not t.get("range")


def has_data(result):
    for series in result:
        values = series.get("values") or ([series["value"]] if "value" in series else [])
        if any(v[1] not in ("NaN", "+Inf", "-Inf") for v in values):
            return True
    return False


# ---------------------------------------------------------------- main

def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    build, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    exporter = os.path.join(build, "exporter", "vpbx_exporter")
    simulator = os.path.join(build, "simulator", "vpbx_simulator")
    prometheus = find_tool("prometheus")
    promtool = find_tool("promtool")
    alertmanager = find_tool("alertmanager", "prometheus-alertmanager")
    missing = [n for n, p in (("prometheus", prometheus), ("promtool", promtool),
                              ("alertmanager (Debian: prometheus-alertmanager)", alertmanager)) if not p]
    if missing:
        print("SKIPPED: not installed: %s (Debian packages prometheus, prometheus-alertmanager)" % ", ".join(missing))
        return 77
    if not all_built(exporter, simulator):
        return 1
    receiver = Receiver()
    return run_test("vpbx-e2e-", lambda tmp, procs: run(
        tmp, procs, receiver, src, exporter, simulator, prometheus, promtool, alertmanager),
        on_exit=receiver.close)


def all_built(*binaries):
    missing = [b for b in binaries if not os.access(b, os.X_OK)]
    for b in missing:
        print("FAILED: %s not built" % b)
    return not missing


def run_test(prefix, body, on_exit=None):
    """Runs body(tmp, procs) in a fresh temporary directory and returns the exit code: a Failure
    fails the test (with the processes' logs when it asks for them); every process is stopped
    and the directory removed at the end (kept with E2E_KEEP=1)."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    procs = Procs(tmp)
    ok = False
    try:
        body(tmp, procs)
        ok = True
    except Failure as e:
        print("FAILED: %s" % e, flush=True)
        if e.show_logs:
            procs.dump_logs()
    finally:
        procs.stop_all()
        if on_exit:
            on_exit()
        if os.environ.get("E2E_KEEP"):
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    log("PASSED" if ok else "FAILED")
    return 0 if ok else 1


def run(tmp, procs, receiver, src, exporter, simulator, prometheus, promtool, alertmanager):
    warm_page_cache([prometheus, promtool, alertmanager])
    sim_port, exp_port, prom_port, am_port = (free_port() for _ in range(4))
    sim = "http://127.0.0.1:%d" % sim_port
    exp = "http://127.0.0.1:%d" % exp_port
    prom = "http://127.0.0.1:%d" % prom_port
    am = "http://127.0.0.1:%d" % am_port
    instance = "127.0.0.1:%d" % exp_port

    with open(os.path.join(tmp, "password"), "w") as f:
        f.write(PASSWORD + "\n")
    procs.start("simulator", [simulator, "--web.listen-address=127.0.0.1:%d" % sim_port, "--users=6",
                              "--password-file=" + os.path.join(tmp, "password"),
                              "--application-id=" + APP_ID, "--calls-per-second=3",
                              "--feature-toggles-per-second=0", "--seed=7",
                              "--fault.push-duplicate-ratio=0.2",  # duplicates for "Duplicates absorbed"
                              "--users-csv-out=" + os.path.join(tmp, "users.csv")])
    wait_for("the simulator's users.csv", lambda: os.path.getsize(os.path.join(tmp, "users.csv")) > 0, 10, 0.1)

    with open(os.path.join(tmp, "vpbx_exporter.yml"), "w") as f:
        f.write("""api:
  url: %(sim)s/openapi/
  username: openapi@291908.bus.ent
  password_file: password
  application_id: %(app)s
  max_requests_per_second: 50
  max_concurrent_requests: 8
  timeout: 2s
users_file: users.csv
enterprises: [291908.bus.ent]
poll: { server: 1s, presence: 1s, features: 1s, call_logs: 2s, fallback: 2s }
webhook:
  token: %(token)s
  public_url: %(exp)s/webhook/{token}
subscriptions:
  manage: true
""" % {"sim": sim, "exp": exp, "app": APP_ID, "token": WEBHOOK_TOKEN})
    procs.start("exporter", [exporter, "--config.file=" + os.path.join(tmp, "vpbx_exporter.yml"),
                             "--web.listen-address=" + instance])
    procs.wait_ready("exporter", exp + "/-/ready", STARTUP_TIMEOUT)

    rules = rewrite_rules(src, os.path.join(tmp, "rules"))
    with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
        f.write("""global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: %s
alerting:
  alertmanagers: [{ static_configs: [{ targets: ["127.0.0.1:%d"] }] }]
scrape_configs:
  - job_name: vpbx
    static_configs: [{ targets: ["%s"] }]
""" % (json.dumps(rules), am_port, instance))
    out = subprocess.run([promtool, "check", "config", os.path.join(tmp, "prometheus.yml")],
                         capture_output=True, text=True)
    if out.returncode:
        raise Failure("promtool check config:\n" + out.stdout + out.stderr)

    rewrite_alertmanager(src, os.path.join(tmp, "alertmanager.yml"), receiver.port)
    procs.start("alertmanager", [alertmanager, "--config.file=" + os.path.join(tmp, "alertmanager.yml"),
                                 "--storage.path=" + os.path.join(tmp, "am-data"),
                                 "--web.listen-address=127.0.0.1:%d" % am_port,
                                 "--cluster.listen-address="])
    procs.start("prometheus", [prometheus, "--config.file=" + os.path.join(tmp, "prometheus.yml"),
                               "--storage.tsdb.path=" + os.path.join(tmp, "prom-data"),
                               "--web.listen-address=127.0.0.1:%d" % prom_port,
                               "--rules.alert.resend-delay=1s"])
    procs.wait_ready("alertmanager", am + "/-/ready", STARTUP_TIMEOUT)
    procs.wait_ready("prometheus", prom + "/-/ready", STARTUP_TIMEOUT)
    t_start = time.time()

    def query(expr):
        u = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        r = get_json(u)
        if r.get("status") != "success":
            raise Failure("query failed: %s: %s" % (expr, r))
        return r["data"]["result"]

    def query_range(expr, start, end):
        u = prom + "/api/v1/query_range?" + urllib.parse.urlencode(
            {"query": expr, "start": "%.3f" % start, "end": "%.3f" % end, "step": "2"})
        r = get_json(u, timeout=15)
        if r.get("status") != "success":
            raise Failure("query failed: %s: %s" % (expr, r))
        return r["data"]["result"]

    def am_alerts():
        return get_json(am + "/api/v2/alerts")

    def firing(name, **labels):
        sel = ",".join(['alertname="%s"' % name, 'alertstate="firing"'] +
                       ['%s="%s"' % kv for kv in labels.items()])
        return query("ALERTS{%s}" % sel)

    # 1. promtool check metrics, now and again at the end (with every series born by then).
    def check_metrics():
        body = http("GET", exp + "/metrics")[1]
        out = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True)
        if out.returncode or out.stdout.strip() or out.stderr.strip():
            raise Failure("promtool check metrics:\n" + (out.stdout + out.stderr).decode(errors="replace"))
        log("promtool check metrics: clean (%d bytes)" % len(body))
    check_metrics()

    # Warm up: answered calls counted and the recording rules producing.
    wait_for("answered calls in Prometheus",
             lambda: query('sum(vpbx_user_calls_total{answered="true"}) > 2') and
             query('enterprise:vpbx_user_calls:rate5m') and query("vpbx_up == 1"), 60)
    procs.check_alive()
    # The user for $user: most answered calls; DND is switched on for that user below.
    top = query('topk(1, sum by (enterprise, user) (vpbx_user_calls_total{answered="true"}))')[0]["metric"]
    enterprise, user = top["enterprise"], top["user"]
    info = query('vpbx_user_info{user="%s"}' % user)[0]["metric"]
    user_id = int(info["user_id"])
    log("user under test: %s (%s, id %d)" % (user, enterprise, user_id))

    # 2. DND left on past the threshold.
    if query('vpbx_user_feature_active{user="%s", feature="CENTRAL_DND"} == 1' % user):
        http("POST", sim + "/_sim/features", {"userId": user_id, "featName": "CENTRAL_DND", "status": "INACTIVE"})
        wait_for("DND off", lambda: query('vpbx_user_feature_active{user="%s", feature="CENTRAL_DND"} == 0' % user), 15)
    if firing("VpbxPlatformApiDown") or firing("VpbxApiErrorRatioHigh"):
        raise Failure("API alerts fire before the API breaks")
    http("POST", sim + "/_sim/features", {"userId": user_id, "featName": "CENTRAL_DND", "status": "ACTIVE"})
    t_dnd = time.monotonic()
    log("DND switched on for %s; threshold %ds" % (user, FEATURE_THRESHOLD))
    wait_for("DND seen by Prometheus",
             lambda: query('vpbx:user_feature_active_since:timestamp_seconds{user="%s", feature="CENTRAL_DND"}' % user), 15)
    if firing("VpbxUserFeatureActiveTooLong", user=user, feature="CENTRAL_DND"):
        raise Failure("VpbxUserFeatureActiveTooLong fired before the threshold")

    def am_has(name, **labels):
        return [a for a in am_alerts() if a["labels"].get("alertname") == name and
                all(a["labels"].get(k) == v for k, v in labels.items())]

    got = wait_for("VpbxUserFeatureActiveTooLong in Alertmanager",
                   lambda: am_has("VpbxUserFeatureActiveTooLong", user=user, feature="CENTRAL_DND",
                                  enterprise=enterprise, severity="warning"), 45)
    elapsed = time.monotonic() - t_dnd
    if elapsed < FEATURE_THRESHOLD:
        raise Failure("VpbxUserFeatureActiveTooLong arrived after %.1fs, before the %ds threshold" % (elapsed, FEATURE_THRESHOLD))
    log("Alertmanager has VpbxUserFeatureActiveTooLong after %.1fs: %s" % (elapsed, got[0]["annotations"]["description"]))
    if am_has("VpbxPlatformApiDown") or am_has("VpbxApiErrorRatioHigh"):
        raise Failure("API alerts in Alertmanager before the API breaks")

    # 3. The API breaks.
    http("POST", sim + "/_sim/faults", {"api_error_ratio": 1})
    log("simulator fault: api_error_ratio=1")
    wait_for("VpbxPlatformApiDown and VpbxApiErrorRatioHigh in Alertmanager",
             lambda: am_has("VpbxPlatformApiDown", instance=instance, severity="critical") and
             am_has("VpbxApiErrorRatioHigh", instance=instance, severity="warning"), 90)
    log("Alertmanager has VpbxPlatformApiDown and VpbxApiErrorRatioHigh")
    wait_for("notifications routed to the example receivers",
             lambda: ("/front-desk", "VpbxUserFeatureActiveTooLong", "firing") in receiver.got and
             ("/pager", "VpbxPlatformApiDown", "firing") in receiver.got, 20)
    log("receivers got: %s" % sorted(set(receiver.got)))
    suppressed = [a["labels"]["alertname"] for a in am_alerts() if a["status"]["state"] == "suppressed"]
    log("inhibited in Alertmanager (by the example's inhibit rules): %s" % sorted(set(suppressed)))
    procs.check_alive()
    check_metrics()

    # 4. Every rule evaluates.
    bad = []
    for g in get_json(prom + "/api/v1/rules")["data"]["groups"]:
        for r in g["rules"]:
            if r.get("health") != "ok":
                bad.append("%s: %s %s" % (r["name"], r.get("health"), r.get("lastError", "")))
    if bad:
        raise Failure("rules with errors:\n  " + "\n  ".join(bad))
    log("every rule evaluates without error")

    # 5. Every dashboard query returns data.
    variables = {"job": "vpbx", "instance": instance, "enterprise": enterprise, "user": user}
    now = time.time()
    failures = []
    count = 0
    for dash, panel, ref, expr, instant in dashboard_queries(src):
        q = substitute(expr, variables)
        count += 1
        try:
            result = query(q) if instant else query_range(q, t_start, now)
        except (Failure, urllib.error.HTTPError) as e:
            failures.append("%s / %s [%s]: error %s\n      %s" % (dash, panel, ref, e, q))
            continue
        if not has_data(result):
            failures.append("%s / %s [%s]: no data\n      %s" % (dash, panel, ref, q))
    log("dashboard queries: %d run, %d without data" % (count, len(failures)))
    if failures:
        raise Failure("dashboard queries without data:\n  " + "\n  ".join(failures), show_logs=False)
    log("total %.0fs" % (time.monotonic() - T0))


if __name__ == "__main__":
    sys.exit(main())
