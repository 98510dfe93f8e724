#!/usr/bin/env python3
"""docs/OPERATIONS.md stays complete: every `ev=` event name the code logs has a row in its
"Log events" table (and every row names an event the code still logs), and its flag tables
are exactly what ops/flag_reference.py generates from the binaries' --help.

The sources are read from the checkout this file lives in (the realpath of the script), so
the test is tagged `external` (never cached): a new LogWarn("...") anywhere must fail it.
Run by hand: python3 tests/tools/operations_doc_test.py (binaries from bazel-bin/)."""
import os
import re
import sys

HERE = os.path.dirname(os.path.realpath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "ops"))

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


# How the code names an event: LogWarn("name"), LogInfo(x ? "a" : "b"), a LogLine or
# VerifierEvent built from a level and a name, a name picked into `ev`, and the
# NAME_refresh_failed / NAME_refresh_recovered pair every StartRefresher("NAME", ...) logs.
PATTERNS = [
    (re.compile(r'\bLog(?:Info|Warn|Error|Debug)\(\s*"([a-z0-9_]+)"'), lambda m: [m.group(1)]),
    (re.compile(r'\bLog(?:Info|Warn|Error|Debug)\([^;"]*\?\s*"([a-z0-9_]+)"\s*:\s*"([a-z0-9_]+)"'),
     lambda m: [m.group(1), m.group(2)]),
    (re.compile(r'LogLevel::k[A-Za-z]+\s*,\s*"([a-z0-9_]+)"'), lambda m: [m.group(1)]),
    (re.compile(r'\bev\s*=\s*"([a-z0-9_]+)"'), lambda m: [m.group(1)]),
    (re.compile(r'\bStartRefresher\(\s*"([a-z0-9_]+)"'),
     lambda m: [m.group(1) + "_refresh_failed", m.group(1) + "_refresh_recovered"]),
]
SOURCE_DIRS = ["agent", "client", "common", "consensus", "device_protocol", "ledger",
               "mqtt-bridge", "node", "tools"]


def events_in_code():
    """{event name: [files]} over the product's sources (tests left out)."""
    found = {}
    for d in SOURCE_DIRS:
        for dirpath, _, files in os.walk(os.path.join(ROOT, d)):
            for f in files:
                if not f.endswith((".cc", ".h")):
                    continue
                path = os.path.join(dirpath, f)
                text = open(path, errors="replace").read()
                for rx, names in PATTERNS:
                    for m in rx.finditer(text):
                        for n in names(m):
                            found.setdefault(n, []).append(os.path.relpath(path, ROOT))
    return found


def event_table(doc):
    """The event names of the rows of the "Log events" table: `name` in the first cell."""
    start = doc.find("<!-- events table -->")
    end = doc.find("<!-- end of events table -->")
    if start < 0 or end < start:
        return None
    names = set()
    for line in doc[start:end].splitlines():
        m = re.match(r"^\| ((?:`[a-z0-9_]+`(?:, )?)+) \|", line)
        if m:
            names.update(re.findall(r"`([a-z0-9_]+)`", m.group(1)))
    return names


def main():
    doc = open(os.path.join(ROOT, "docs", "OPERATIONS.md")).read()

    code = events_in_code()
    check(len(code) > 100, "found the events of the code (%d)" % len(code))
    for known in ("node_ready", "message_refused", "session_agreed", "epoch_started",
                  "registry_refresh_failed", "firmware_installed", "integrity_appraised"):
        check(known in code, "the scan finds %s" % known)
    table = event_table(doc)
    check(table is not None, "docs/OPERATIONS.md has the events table markers")
    table = table or set()
    missing = sorted(set(code) - table)
    check(not missing, "every logged event has a row: missing %s (logged in %s)" %
          (missing, {n: sorted(set(code[n])) for n in missing}))
    stale = sorted(table - set(code))
    check(not stale, "every row names an event the code logs: stale %s" % stale)

    # Flag tables: the binaries come from the test's runfiles.
    base = os.environ.get("TEST_SRCDIR")
    if base:
        os.environ["PL_BIN_DIR"] = os.path.join(base, os.environ.get("TEST_WORKSPACE",
                                                                      "provledger"))
    import flag_reference as fr
    for name, body in fr.blocks().items():
        have = fr.extract(doc, name)
        check(have is not None, "docs/OPERATIONS.md has the flag table of %s" % name)
        if have is None:
            continue
        same = have.strip() == body.strip()
        if not same:
            print("--- in the document\n%s\n--- generated\n%s" % (have, body))
        check(same, "the flag table of %s is current (python3 ops/flag_reference.py "
              "--update docs/OPERATIONS.md)" % name)

    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
