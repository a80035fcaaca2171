#!/usr/bin/env python3
"""The conformance suite's result per feature and scenario, from its
cucumber JSON reports (one DIR/*-report.json per feature, written by
tests/conformance/run.sh).

    tests/conformance/report.py DIR

Prints each feature's counts, each scenario's PASS or FAIL with, for a
failure, the step that failed and its error, and a closing line
"conformance: N passed, N failed". Exit status 1 when a scenario failed or
no report was found.
"""
import glob
import json
import os
import sys


def scenario_status(steps):
    """failed if a step failed; passed if all passed; else the first other status."""
    statuses = [s.get("result", {}).get("status", "") for s in steps]
    if "failed" in statuses:
        return "failed"
    if statuses and all(s == "passed" for s in statuses):
        return "passed"
    return next((s for s in statuses if s != "passed"), "empty")


def labels(elements):
    """The scenarios' names; an outline's examples share one, so add the
    request, and the line where even that is the same."""
    names = [" ".join(e.get("name", "").split()) for e in elements]
    out = []
    for e, name in zip(elements, names):
        if names.count(name) > 1:
            when = next((s["name"] for s in e.get("steps", [])
                         if s.get("keyword", "").strip() == "When"), "")
            name += " [%s]" % when
        out.append(name)
    return ["%s (line %d)" % (n, e.get("line", 0)) if out.count(n) > 1 else n
            for e, n in zip(elements, out)]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    files = sorted(glob.glob(os.path.join(sys.argv[1], "*-report.json")))
    if not files:
        print("conformance: no report in %s (see suite.log)" % sys.argv[1])
        return 1
    passed = failed = 0
    for path in files:
        try:
            with open(path) as f:
                features = json.load(f)
        except (OSError, ValueError) as e:
            # the suite creates each report first and writes it at the end
            print("%s: no result (the suite stopped during this feature?): %s" %
                  (os.path.basename(path), e))
            failed += 1
            continue
        for feat in features:
            elements = [e for e in feat.get("elements", []) if e.get("type") == "scenario"]
            results = [(e, scenario_status(e.get("steps", []))) for e in elements]
            ok = sum(1 for _, st in results if st == "passed")
            print("%s (%s): %d passed, %d failed" %
                  (feat.get("name"), feat.get("uri"), ok, len(results) - ok))
            for (e, st), name in zip(results, labels(elements)):
                print("  %s %s" % ("PASS" if st == "passed" else "FAIL", name))
                if st == "passed":
                    continue
                for s in e.get("steps", []):
                    r = s.get("result", {})
                    if r.get("status") != "passed":
                        print("       %s %s%s: %s" % (r.get("status"), s.get("keyword", ""),
                                                   s.get("name"), r.get("error_message", "")))
                        break
            passed += ok
            failed += len(results) - ok
    print("conformance: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
