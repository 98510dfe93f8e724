#!/usr/bin/env python3
"""ledgerctl validator list|add|remove|rekey against a real one-validator node
(docs/VALIDATOR_SET.md). Each change is committed as an admin-signed kind 4 record; the
command prints the committed height h and E(h) = 16 * (h // 16 + 4), above which the new set
is in force; `validator list` and `status` show it pending with those heights; a second
change is based on the scheduled one (same E: the last wins); refusals (unknown id, bad
address, a key that is not a key, an id already in the set) change nothing. The chain stays
far below E, so the node's consensus (not switched here) is never asked to use the new set."""
import json
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def runfile(rel):
    base = os.environ.get("RUNFILES_DIR") or os.environ.get("TEST_SRCDIR")
    ws = os.environ.get("TEST_WORKSPACE", "provledger")
    if base and os.path.exists(os.path.join(base, ws, rel)):
        return os.path.join(base, ws, rel)
    return os.path.join(HERE, "..", "..", "bazel-bin", rel)


sys.path.insert(0, os.path.dirname(runfile("tests/integration/pltest.py")))
import pltest  # noqa: E402
from pltest import check, ctl, log  # noqa: E402


def main():
    pltest.bins()
    root = pltest.tmpdir("validator_commands")
    chain = pltest.Chain(root, n=1, chain_id="vcmd")
    chain.start(0)
    node = "--node=" + chain.addr(0)
    g = "--genesis=" + chain.genesis
    admin = "--admin_key=%s/admin.key" % root
    ctl("keygen", "--out=%s/v1.key" % root)
    ctl("keygen", "--out=%s/v0b.key" % root)

    lst = json.loads(ctl("validator", "list", "--json", g, node)[1])
    check(lst["in_force"]["n"] == 1 and "pending" not in lst, "genesis set only: %s" % lst)
    genesis_digest = lst["in_force"]["digest"]

    out = json.loads(ctl("validator", "add", "--id=v1", "--pubkey=%s/v1.key" % root,
                         "--address=127.0.0.1:%d" % pltest.free_port(), admin, g, node,
                         "--json")[1])
    h = out["height"]
    log("add committed at", h, "in force above", out["in_force_above"])
    check(out["applied"], "the change is listed by the node")
    check(out["in_force_above"] == 16 * (h // 16 + 4), "E(h) printed: %s" % out)
    check(out["set"]["n"] == 2 and out["set"]["quorum"] == 2, "a set of 2, quorum 2")

    # The chain moves on meanwhile: on a slow machine (ASan, load) it may pass E before a
    # list is read, and the change is then in force instead of pending. Each view is checked
    # against the height it was read at, so a wrong listing fails whatever the speed.
    end = out["in_force_above"]
    lst = json.loads(ctl("validator", "list", "--json", g, node)[1])
    if lst["height"] < end:
        check(lst["in_force"]["digest"] == genesis_digest, "the genesis set stays in force")
        check(lst["pending"]["committed_height"] == h, "pending change height")
        check(lst["pending"]["in_force_above"] == end, "pending change E")
        check([v["id"] for v in lst["pending"]["validators"]] == ["v0", "v1"], "pending members")
    else:
        log("the chain passed E before the list: height", lst["height"])
        check([v["id"] for v in lst["in_force"]["validators"]] == ["v0", "v1"] and
              "pending" not in lst, "height %d >= E %d: the change is in force: %s" %
              (lst["height"], end, lst))
    st = chain.status(0)
    if st["height"] < end:
        check(st["pending_change_height"] == h and st["pending_change_end"] == end,
              "status shows the pending change: %s" % st)
        check(st["validator_set_digest"] == genesis_digest, "status: the set in force")
    else:
        check(st["validator_set_digest"] != genesis_digest and
              st.get("pending_change_height", 0) == 0, "status: the change in force: %s" % st)
    _, text, _ = ctl("validator", "list", g, node)
    at = int(re.search(r"at height (\d+), \d+ change", text).group(1))
    pending_words = "pending: committed at height %d, in force above height %d" % (h, end)
    if at < end:
        check(pending_words in text and "in force: 1 validator(s)" in text and
              re.search(r"pending set: 2 validator\(s\).*\n  0 v0 .*\n  1 v1 ", text),
              "list in words (height %d < E %d): %s" % (at, end, text))
    else:
        check(pending_words not in text and "no change pending" in text and
              re.search(r"in force: 2 validator\(s\).*\n  0 v0 .*\n  1 v1 ", text),
              "list in words (height %d >= E %d): the change is in force: %s" % (at, end, text))

    # Based on the scheduled set: accepted, the last one committed wins.
    _, text, _ = ctl("validator", "rekey", "--id=v0", "--pubkey=%s/v0b.key" % root, admin, g, node)
    check("rekeyed: committed at height" in text and "is in force above height" in text, text)
    lst = json.loads(ctl("validator", "list", "--json", g, node)[1])
    check(lst["changes"] == 2, "two changes recorded")
    _, v0b, _ = ctl("pubkey", "--key=%s/v0b.key" % root)
    h2 = int(re.search(r"committed at height (\d+)", text).group(1))
    if 16 * (h2 // 16 + 4) == out["in_force_above"]:
        # One end for both: the last committed is the set in force above it.
        check(lst["pending"]["validators"][0]["pubkey"] == v0b.strip().split()[-1],
              "v0's new key is in the pending set")
    elif lst["height"] < end:
        # The rekey ends later: the pending change is the nearest one (the add), not the newest.
        check(lst["pending"]["committed_height"] == h and
              lst["pending"]["in_force_above"] == out["in_force_above"] and
              lst["pending"]["validators"][0]["pubkey"] != v0b.strip().split()[-1],
              "the nearest change is pending, not the rekey at %d: %s" % (h2, lst["pending"]))
    else:
        # The add came into force first: the rekey is what is pending now.
        check(lst["pending"]["committed_height"] == h2 and
              lst["pending"]["validators"][0]["pubkey"] == v0b.strip().split()[-1],
              "height %d >= E %d: the rekey at %d is pending: %s" % (lst["height"], end, h2, lst))

    # Refusals change nothing.
    before = lst
    rc, _, err = ctl("validator", "remove", "--id=nobody", admin, g, node, check_rc=False)
    check(rc == 1 and "not in the newest set" in err, "unknown id: rc=%d %s" % (rc, err))
    rc, _, err = ctl("validator", "add", "--id=v2", "--pubkey=%s/v1.key" % root,
                     "--address=127.0.0.1:%d" % pltest.free_port(), admin, g, node,
                     check_rc=False)
    check(rc == 2 and "reuses a public key" in err, "a reused key: rc=%d %s" % (rc, err))
    rc, _, err = ctl("validator", "add", "--id=v3", "--pubkey=%s/v1.key" % root,
                     "--address=nohostport", admin, g, node, check_rc=False)
    check(rc == 2, "a bad address: rc=%d %s" % (rc, err))
    rc, _, err = ctl("validator", "add", "--id=v1", "--pubkey=%s/v0b.key" % root,
                     "--address=127.0.0.1:1", admin, g, node, check_rc=False)
    check(rc != 0 and "already" in err, "an id already in the set: rc=%d %s" % (rc, err))
    after = json.loads(ctl("validator", "list", "--json", g, node)[1])
    # The chain moves on meanwhile: on a loaded machine the nearest pending change may come
    # into force between the two lists, which is not a change the refusals made.
    same_pending = after.get("pending") == before.get("pending")
    came_into_force = after["in_force"]["digest"] != before["in_force"]["digest"]
    check(after["changes"] == before["changes"] and (same_pending or came_into_force),
          "refusals changed nothing: before %s, after %s" % (before, after))

    # Transient failures are retried across the --node list until --timeout_ms: the first
    # address refuses connections, the node itself is stopped (SIGSTOP) for a few seconds.
    dead = "127.0.0.1:%d" % pltest.free_port()
    argv = pltest.with_transport([pltest.LEDGERCTL, "validator", "list", "--json", g,
                                  "--node=%s,%s" % (dead, chain.addr(0)), "--timeout_ms=60000"])
    chain.procs[0].send_signal(signal.SIGSTOP)
    try:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(5)
    finally:
        chain.procs[0].send_signal(signal.SIGCONT)
    out, err = p.communicate(timeout=120)
    log("retries:", err.count("retrying:"))
    check(p.returncode == 0 and json.loads(out)["changes"] == after["changes"],
          "list succeeds once the node answers again: rc=%d %s %s" % (p.returncode, out, err))
    check(re.search(r"retrying: %s: UNAVAILABLE .*\(attempt \d+, [0-9.]+ s left\)" % dead, err),
          "the retries are told on stderr: %s" % err)
    check(err.count("retrying:") >= 2, "retried more than once while stopped: %s" % err)
    rc, _, err = ctl("validator", "list", g, "--node=" + dead, "--timeout_ms=1500",
                     check_rc=False)
    check(rc == 1 and "no node answered within 1500 ms" in err and dead in err,
          "gives up after --timeout_ms naming the node's last error: rc=%d %s" % (rc, err))

    # The chain itself is still good, and the change record proves like any record.
    ctl("verify-chain", node, g)
    log("PASS")


if __name__ == "__main__":
    main()
