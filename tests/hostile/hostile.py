#!/usr/bin/env python3
"""Hostile clients against the real vpbx_exporter binary, with vpbx_simulator as the platform.

    tests/hostile/hostile.py BUILD_DIR [--report FILE]

Each attack runs while a scrape loop reads /metrics; it asserts what must hold whatever the
machine's speed:
  1. 200 slowloris connections trickling request heads and bodies on the webhook, then on
     /metrics: every scrape is answered (200, within a 5 s client timeout: a hang, not a
     measurement), real pushes sent during the attack are answered 200 and counted once;
  2. hostile bodies: 10 MB, 100 000-deep nesting, 100 000 events, 1e400 and -1, negative and
     NaN-like durations, 1 MB strings, invalid UTF-8, duplicated keys: each refused (4xx) or
     counted invalid, none moves a call counter;
  3. 10 000 distinct unknown user ids and 10 000 subscription ids: no per-user series beyond
     max_users, every event accounted for, the exporter's RSS stays bounded;
  4. at the end the call counters equal exactly the valid pushes sent.
Scrape latencies (p50/p99 before and during each attack) are printed and, with --report, written
to FILE: they are figures for bench/results.md, never asserted. Exit 0 passed, 1 failed.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

TOKEN = "hostile-token-0123456789abcdef"
APP_ID = "71c177e5-7417-4265-b97f-4595016dceb8"
PASSWORD = "hostile-password"
MAX_USERS = 20
SLOW_CONNECTIONS = 200
ATTACK_SECONDS = 6
SCRAPE_TIMEOUT = 5.0
T0 = time.monotonic()


def log(msg):
    print("[hostile %6.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


class Failure(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failure(what)
    log("ok: " + what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(method, url, body=None, content_type="application/json", timeout=SCRAPE_TIMEOUT):
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def parse_metrics(text):
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$', line)
        if m:
            samples[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return samples


def total(samples, name, **labels):
    result = 0.0
    for (metric, label_text), value in samples.items():
        if metric != name:
            continue
        if all('%s="%s"' % (k, v) in label_text for k, v in labels.items()):
            result += value
    return result


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))
    return ordered[index]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class SlowLoris:
    """`count` connections that trickle a request a byte at a time and never finish it; a
    connection the server closes is opened again, so the pressure lasts."""

    def __init__(self, port, heads):
        self.port = port
        self.heads = heads
        self.stop = threading.Event()
        self.reopened = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open(self, i):
        s = socket.create_connection(("127.0.0.1", self.port))
        s.setblocking(False)
        return [s, self.heads[i % len(self.heads)], 0]

    def run(self):
        conns = [self.open(i) for i in range(SLOW_CONNECTIONS)]
        while not self.stop.is_set():
            for i, c in enumerate(conns):
                s, text, sent = c
                try:
                    # The head, then body or header bytes for ever, one at a time.
                    byte = text[sent:sent + 1] if sent < len(text) else b"a"
                    s.send(byte)
                    c[2] = sent + 1
                    try:
                        if s.recv(4096) == b"":
                            raise OSError("closed")
                    except BlockingIOError:
                        pass
                except OSError:
                    s.close()
                    conns[i] = self.open(i)
                    self.reopened += 1
            self.stop.wait(0.05)
        for s, _, _ in conns:
            s.close()

    def __enter__(self):
        self.thread.start()
        time.sleep(1.0)  # let every connection get through connect and start its head
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


class Exporter:
    def __init__(self, build, tmp):
        self.tmp = tmp
        self.procs = []
        self.sim_port, self.exp_port = free_port(), free_port()
        self.base = "http://127.0.0.1:%d" % self.exp_port
        with open(os.path.join(tmp, "password"), "w") as f:
            f.write(PASSWORD + "\n")
        self.start("simulator", [os.path.join(build, "simulator", "vpbx_simulator"),
                                 "--web.listen-address=127.0.0.1:%d" % self.sim_port,
                                 "--users=4", "--password-file=" + os.path.join(tmp, "password"),
                                 "--application-id=" + APP_ID,
                                 "--users-csv-out=" + os.path.join(tmp, "users.csv")])
        wait_for("the simulator's users.csv",
                 lambda: os.path.exists(os.path.join(tmp, "users.csv")) and
                 os.path.getsize(os.path.join(tmp, "users.csv")) > 0)
        with open(os.path.join(tmp, "users.csv")) as f:
            rows = [line.strip().split(",") for line in f if line.strip()][1:]
        self.user_id, self.login = rows[0][1], rows[0][2]
        with open(os.path.join(tmp, "vpbx_exporter.yml"), "w") as f:
            f.write("""api:
  url: http://127.0.0.1:%d/openapi/
  username: openapi@291908.bus.ent
  password_file: password
  application_id: %s
users_file: users.csv
discover_users: true
max_users: %d
poll: { server: 5s, presence: 10s, features: 10s, call_logs: 10s }
webhook:
  token: %s
subscriptions:
  manage: false
state_file: state.json
""" % (self.sim_port, APP_ID, MAX_USERS, TOKEN))
        self.exporter = self.start("exporter", [
            os.path.join(build, "exporter", "vpbx_exporter"),
            "--config.file=" + os.path.join(tmp, "vpbx_exporter.yml"),
            "--web.listen-address=127.0.0.1:%d" % self.exp_port])
        wait_for("the exporter's /-/ready", lambda: request("GET", self.base + "/-/ready")[0] == 200)

    def start(self, name, argv):
        logf = open(os.path.join(self.tmp, name + ".log"), "wb")
        p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, cwd=self.tmp,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append((name, p, logf))
        return p

    def alive(self):
        return self.exporter.poll() is None

    def stop(self):
        for _, p, _ in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _, p, logf in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            logf.close()

    def tail(self, name, lines=30):
        with open(os.path.join(self.tmp, name + ".log"), errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def metrics(self):
        status, body = request("GET", self.base + "/metrics")
        if status != 200:
            raise Failure("/metrics answered %d" % status)
        return parse_metrics(body.decode())

    def push(self, body):
        if isinstance(body, str):
            body = body.encode()
        return request("POST", self.base + "/webhook/" + TOKEN, body)[0]


def wait_for(what, fn, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if fn():
                return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.1)
    raise Failure("timed out waiting for " + what)


def scrape_loop(exporter, seconds, failures):
    """Scrapes back to back for `seconds`; returns the latencies in seconds."""
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = time.monotonic()
        try:
            status, _ = request("GET", exporter.base + "/metrics")
            if status != 200:
                failures.append("status %d" % status)
        except (OSError, urllib.error.URLError) as e:
            failures.append(str(e))
        latencies.append(time.monotonic() - start)
    return latencies


def cdr(exporter, call_id, duration=7, direction="OUTGOING", extra=None):
    call = {"id": call_id, "userId": int(exporter.user_id), "callStart": "2026-12-03T10:00:00Z",
            "duration": duration, "direction": direction, "callType": "VOICE", "status": 804,
            "callPartyNumber": "+41225117902"}
    if extra:
        call.update(extra)
    return json.dumps({"subscriptionId": "dfaa8ef2-ac51-4883-ad40-92de788e142c",
                       "callLogEvents": [{"changeType": "CREATED", "callLog": call,
                                          "eventTime": "2026-12-03T10:00:07.000+01:00",
                                          "context": {"user": {"id": int(exporter.user_id),
                                                               "name": exporter.login}}}]})


def run(exporter, report):
    figures = []
    sent_valid = 0
    before = exporter.metrics()

    failures = []
    baseline = scrape_loop(exporter, 3, failures)
    check(not failures, "baseline scrapes all answered")
    figures.append(("baseline", baseline))

    port = exporter.exp_port
    attacks = {
        "webhook": [("POST /webhook/%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "X-Slow: " % TOKEN).encode(),
                    ("POST /webhook/%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: 100000\r\n\r\n{\"callLogEvents\":[" % TOKEN).encode()],
        "metrics": [b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ",
                    b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"],
    }
    for target, heads in attacks.items():
        failures = []
        with SlowLoris(port, heads) as loris:
            pushes = []
            pusher = threading.Thread(target=lambda: pushes.extend(
                exporter.push(cdr(exporter, "during-%s-%d" % (target, i))) for i in range(20)))
            pusher.start()
            latencies = scrape_loop(exporter, ATTACK_SECONDS, failures)
            pusher.join()
        check(exporter.alive(), "the exporter survived 200 slow clients on %s" % target)
        check(not failures, "every scrape answered during the slow clients on %s (%d scrapes, %s)" %
              (target, len(latencies), "; ".join(failures[:3]) or "no failure"))
        check(pushes == [200] * 20, "20 real pushes answered 200 during the attack on %s" % target)
        sent_valid += 20
        figures.append(("slowloris on " + target, latencies))
        log("slow connections re-opened after the server cut them: %d" % loris.reopened)

    # Hostile bodies: each is refused whole (4xx) or its events are counted invalid.
    calls_now = total(exporter.metrics(), "vpbx_user_calls_total")
    big_string = "x" * (900 * 1024)
    hostile = {
        "10 MB body": "{\"callLogEvents\":[" + " " * (10 * 1024 * 1024) + "]}",
        "100 000-deep nesting": "[" * 100000 + "]" * 100000,
        "100 000 events": json.dumps({"callLogEvents": [{}] * 100000}),
        "duration 1e400": cdr(exporter, "big-duration").replace('"duration": 7', '"duration": 1e400'),
        "duration -1": cdr(exporter, "minus-one", duration=-1),
        "duration -7": cdr(exporter, "minus-seven", duration=-7),
        "duration NaN-like": cdr(exporter, "nan-like", duration="NaN"),
        "duration NaN token": cdr(exporter, "nan-token").replace('"duration": 7', '"duration": NaN'),
        "userId -1": cdr(exporter, "user-minus-one", extra={"userId": -1}),
        "1 MB id": cdr(exporter, big_string),
        "1 MB direction": cdr(exporter, "big-direction", direction=big_string),
        "invalid UTF-8": cdr(exporter, "utf8").encode().replace(b"OUTGOING", b"OUT\xff\xfeGOING"),
        "duplicated keys": cdr(exporter, "dup").replace('"duration": 7', '"duration": 7, "duration": 9'),
    }
    invalid_before = total(exporter.metrics(), "vpbx_webhook_events_total", outcome="invalid")
    answers = {}
    for name, body in hostile.items():
        answers[name] = exporter.push(body)
        log("%-22s -> %d" % (name, answers[name]))
        check(answers[name] < 500, "%s is not a server error" % name)
    check(answers["10 MB body"] == 413, "a 10 MB body gets 413")
    check(answers["100 000-deep nesting"] == 400, "100 000-deep nesting gets 400")
    check(answers["invalid UTF-8"] == 400, "invalid UTF-8 gets 400")
    after = exporter.metrics()
    check(total(after, "vpbx_user_calls_total") == calls_now,
          "no hostile body moved a call counter")
    accepted = [name for name, status in answers.items() if status == 200]
    invalid = total(after, "vpbx_webhook_events_total", outcome="invalid") - invalid_before
    check(invalid >= len(accepted), "the bodies answered 200 (%s) counted their events invalid "
          "(%d)" % (", ".join(accepted), invalid))
    check(exporter.alive(), "the exporter survived the hostile bodies")

    # 10 000 unknown users and 10 000 subscription ids.
    rss_before = rss_kib(exporter.exporter.pid)
    applied_before = total(after, "vpbx_webhook_events_total", resource_type="CALL_LOG")
    pushed = 0
    statuses = []
    for batch in range(20):
        events = []
        for i in range(500):
            n = batch * 500 + i
            events.append({"changeType": "CREATED",
                           "callLog": {"id": "unknown-%d" % n, "userId": 900000 + n, "duration": 3,
                                       "direction": "INCOMING", "callStart": "2026-12-03T10:00:00Z"},
                           "eventTime": "2026-12-03T10:00:07.000+01:00"})
        body = json.dumps({"subscriptionId": "sub-%d" % batch, "callLogEvents": events})
        statuses.append(exporter.push(body))
        pushed += len(events)
    check(statuses == [200] * 20, "20 bodies of 500 unknown users each answered 200")
    for n in range(10000):
        if n % 1000 == 0:
            events = []
        events.append({"changeType": "UPDATED",
                       "feature": {"id": n, "userId": 950000 + n, "name": "CENTRAL_DND",
                                   "status": "ACTIVE"}})
        if n % 1000 == 999:
            status = exporter.push(json.dumps({"subscriptionId": "feature-sub-%d" % n,
                                               "featureEvents": events}))
            check(status == 200, "1000 feature events of unknown users answered 200")
    after = exporter.metrics()
    rss_after = rss_kib(exporter.exporter.pid)
    users = len([k for k in after if k[0] == "vpbx_user_info"])
    log("user series: %d (max_users %d); RSS %d -> %d KiB" % (users, MAX_USERS, rss_before, rss_after))
    check(users <= MAX_USERS, "no user series beyond max_users")
    accounted = total(after, "vpbx_webhook_events_total", resource_type="CALL_LOG") - applied_before
    check(accounted == pushed, "each of the %d call-log events is counted once in "
          "vpbx_webhook_events_total (got %d)" % (pushed, accounted))
    check(rss_after - rss_before < 64 * 1024, "RSS grew by less than 64 MiB (%d KiB)" %
          (rss_after - rss_before))

    # Exactly the valid pushes are counted, by the configured user.
    final = exporter.metrics()
    user = exporter_user_label(final, exporter)
    counted = (total(final, "vpbx_user_calls_total", user=user) -
               total(before, "vpbx_user_calls_total", user=user))
    check(counted == sent_valid, "the configured user's calls went up by exactly the %d valid "
          "pushes (got %d)" % (sent_valid, counted))

    lines = ["| scrape loop | scrapes | p50 ms | p99 ms | p99 / baseline p99 |", "|---|---|---|---|---|"]
    base99 = percentile(baseline, 99)
    for name, values in figures:
        p99 = percentile(values, 99)
        lines.append("| %s | %d | %.1f | %.1f | %.2f |" % (name, len(values), percentile(values, 50) * 1000,
                                                      p99 * 1000, p99 / base99 if base99 else float("nan")))
    lines.append("")
    lines.append("RSS before / after 10 000 unknown users and subscription ids: %d / %d KiB" %
                 (rss_before, rss_after))
    print("\n".join(lines))
    if report:
        with open(report, "w") as f:
            f.write("\n".join(lines) + "\n")


def exporter_user_label(samples, exporter):
    for (name, labels), _ in samples.items():
        if name == "vpbx_user_info" and 'user_id="%s"' % exporter.user_id in labels:
            m = re.search(r'(?:^|[{,])user="([^"]*)"', labels)
            if m:
                return m.group(1)
    raise Failure("no vpbx_user_info for user %s" % exporter.user_id)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    build = os.path.abspath(sys.argv[1])
    report = sys.argv[sys.argv.index("--report") + 1] if "--report" in sys.argv else None
    tmp = tempfile.mkdtemp(prefix="vpbx-hostile-")
    exporter = None
    try:
        exporter = Exporter(build, tmp)
        run(exporter, report)
        log("PASSED")
        return 0
    except Failure as e:
        log("FAILED: %s" % e)
        if exporter:
            print("----- exporter log -----\n" + exporter.tail("exporter"))
        return 1
    finally:
        if exporter:
            exporter.stop()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    sys.exit(main())
