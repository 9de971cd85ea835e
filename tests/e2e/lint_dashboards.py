#!/usr/bin/env python3
"""Static checks of dashboards/*.json (no Grafana needed); tests/e2e/e2e.py runs their queries.

    tests/e2e/lint_dashboards.py SOURCE_DIR

Checks: the JSON is what dashboards/generate.py writes; current schema; unique stable uid;
the "vpbx" tag and a dashboards link on it; datasource, job, instance and account variables
(account's All is .*, which matches series without the label too: one implicit account); every
selector of a per-account series filters on $account; every
panel and target on ${datasource}; every target has an expr; rate()/increase() windows use
$__rate_interval or $__range, or read a recording rule.
"""
import glob
import json
import os
import re
import subprocess
import sys


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "."
    errors = []
    gen = subprocess.run([sys.executable, os.path.join(src, "dashboards", "generate.py"), "--check"],
                         capture_output=True, text=True)
    if gen.returncode:
        errors.append(gen.stdout.strip() + gen.stderr.strip())
    uids = {}
    files = sorted(glob.glob(os.path.join(src, "dashboards", "*.json")))
    if not files:
        errors.append("no dashboards")
    for path in files:
        name = os.path.basename(path)
        with open(path) as f:
            d = json.load(f)
        if d.get("schemaVersion") not in (38, 39):
            errors.append("%s: schemaVersion %s" % (name, d.get("schemaVersion")))
        uid = d.get("uid") or ""
        if not re.fullmatch(r"vpbx-[a-z0-9-]{1,35}", uid) or uid in uids:
            errors.append("%s: uid %r missing, malformed or duplicate" % (name, uid))
        uids[uid] = name
        if "vpbx" not in d.get("tags", []):
            errors.append("%s: no vpbx tag" % name)
        if not any(l.get("type") == "dashboards" and "vpbx" in l.get("tags", []) for l in d.get("links", [])):
            errors.append("%s: no link to the other vpbx dashboards" % name)
        names = [v.get("name") for v in d.get("templating", {}).get("list", [])]
        for v in ("datasource", "job", "instance", "account"):
            if v not in names:
                errors.append("%s: no $%s variable" % (name, v))
        for v in d.get("templating", {}).get("list", []):
            if v.get("name") == "account" and (not v.get("includeAll") or v.get("allValue") != ".*"):
                errors.append("%s: $account must include All as .* (series without the label)" % name)
        stack = list(d.get("panels", []))
        ids = set()
        while stack:
            p = stack.pop(0)
            stack.extend(p.get("panels", []))
            where = "%s / %s" % (name, p.get("title"))
            if p.get("id") in ids:
                errors.append("%s: duplicate panel id" % where)
            ids.add(p.get("id"))
            if p.get("type") == "row":
                continue
            if p.get("datasource", {}).get("uid") != "${datasource}":
                errors.append("%s: panel datasource is not ${datasource}" % where)
            if not p.get("targets"):
                errors.append("%s: no query" % where)
            for t in p.get("targets", []):
                if t.get("datasource", {}).get("uid") != "${datasource}":
                    errors.append("%s [%s]: target datasource is not ${datasource}" % (where, t.get("refId")))
                expr = t.get("expr", "")
                if not expr.strip():
                    errors.append("%s [%s]: empty expr" % (where, t.get("refId")))
                # Per-account series: every selector on $instance filters on $account too, but
                # for the process' own (no account label, even with accounts).
                for metric, labels in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*instance=~\"\$instance\"[^}]*)\}", expr):
                    process_wide = metric in ("up", "vpbx_exporter_build_info",
                                              "vpbx_config_last_reload_successful") or metric.startswith("process_")
                    if not process_wide and 'account=~"$account"' not in labels:
                        errors.append("%s [%s]: %s does not filter on $account" % (where, t.get("refId"), metric))
                for w in re.findall(r"(?:rate|increase)\([^\[]*\[([^\]]+)\]", expr):
                    if w not in ("$__rate_interval", "$__range"):
                        errors.append("%s [%s]: window [%s]: use $__rate_interval" % (where, t.get("refId"), w))
    for e in errors:
        print("dashboards: " + e)
    if not errors:
        print("dashboards OK: %s" % ", ".join(sorted(uids)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
