"""A validator behind the quorum that registered a device takes its first readings (issue 17).

Four real ledger_node validators, each in its own network namespace (tests/integration/netns.py);
Mosquitto, the MQTT bridge, device_sim and ledgerctl in the hub namespace. The bridge submits to
a backup, LAG, first. LAG is cut off from its three peers (nft in its namespace drops the packets
from and to their addresses; the hub still reaches it), so it stays at its height while DEVICES
new devices are registered through the others; then the devices send their first readings,
signed, through the bridge, which submits them to LAG.

A refusal is never retried, so LAG must not refuse them as "not registered": its registry is
behind. Checked: every reading acknowledged as recorded, no `unauth` or error answer to any of
the new devices, `ledger_refused=0` in the bridge's stats, and, once LAG is healed and caught up,
every reading on every node exactly once. LAG must have held the submissions (pending_batches)
while it was behind, so the test did reach the lagging node. Before the fix LAG answered each
record REFUSED / PERMISSION_DENIED at once and the bridge told the device `unregistered`.

A bridge of a gateway registered through the others while LAG is behind, asking LAG first,
hears NOT_FOUND there and starts from the others' answer (before the fix it exited 1).

Last, a device revoked on the ledger while the bridge still holds its key (no registry refresh)
is still answered `unregistered`: the block refuses its reading, on every replica alike.

Needs root (ip netns, nft): prints SKIPPED and passes where namespaces are forbidden."""
import json
import os
import re
import signal
import subprocess
import threading
import time

import netns
import pltest as t

N = 4
VIEW_CHANGE_MS = 1000
SUBMIT_TIMEOUT_MS = 4000  # the bridge's, per node tried: then it moves on to the next
DEVICES = 4
COUNT = 10                # first readings per new device
RATE = 10


def isolate_from_peers(prefix, i, peers):
    """Drops every packet between node i and `peers` (node indices), inside node i's
    namespace; the hub's address still reaches it. netns.heal(prefix, i) undoes it."""
    addrs = ", ".join("%s.%d" % (netns.SUBNET, p + 1) for p in peers)
    rules = ("table inet %s {\n"
             "  chain in {\n    type filter hook input priority -300;\n"
             "    ip saddr { %s } counter drop\n  }\n"
             "  chain out {\n    type filter hook output priority -300;\n"
             "    ip daddr { %s } counter drop\n  }\n"
             "}\n" % (t.CUT_TABLE, addrs, addrs))
    p = subprocess.run(["ip", "netns", "exec", netns.node_ns(prefix, i), "nft", "-f", "-"],
                       input=rules, capture_output=True, text=True)
    t.check(p.returncode == 0, "nft rules in node %d's namespace: %s" % (i, p.stderr))


def tap_refusals(path, device_prefix):
    """(device, topic, body) of every refusal answer (unauth, forbidden, .../error) the tap saw
    for devices named `device_prefix`-N."""
    out = []
    for line in open(path, errors="replace"):
        _, _, js = line.rstrip("\n").partition("|")
        try:
            m = json.loads(js)
        except ValueError:
            continue
        topic = m.get("topic", "")
        parts = topic.split("/")
        if len(parts) < 3 or parts[1].rpartition("-")[0] != device_prefix:
            continue
        if parts[2] in ("unauth", "forbidden") or parts[-1] == "error":
            out.append((parts[1], topic, m.get("payload")))
    return out


def main():
    prefix, _ = netns.enter("lagging_registry_test", __file__)
    t.bridge_bins()
    root = t.tmpdir("lagging-registry")
    broker = t.Mosquitto(root)
    chain = netns.NsChain(root, prefix, "lagging")
    extra = ["--view_change_timeout_ms=%d" % VIEW_CHANGE_MS]
    for i in range(N):
        chain.start(i, extra)
    chain.register(devices=())
    primary = chain.ids.index(chain.status(0)["primary"])
    lag = (primary + N - 1) % N  # a backup
    others = [i for i in range(N) if i != lag]
    order = [lag] + others
    # The bridge keeps the keys it learnt (no refresh during the test): the last step needs a
    # revoked device it still believes registered.
    bridge = t.BridgeProc(netns.Ordered(chain, order), broker, name="gw",
                          extra=["--submit_timeout_ms=%d" % SUBMIT_TIMEOUT_MS,
                                 "--client_id=pl-lagging-gw", "--registry_refresh_ms=3600000"])
    bridge.start()

    def sim(*args, timeout=300):
        return t.device_sim(chain, broker, "--mode=sig", "--list_records=0", *args,
                            check_rc=False, timeout=timeout)

    # The whole path works through LAG first (the bridge's node).
    rc, s, err = sim("--register", "--devices=1", "--device_prefix=warm", "--count=3",
                     "--register_grace_ms=20000")
    t.check(rc == 0 and s and s["acked_recorded"] == 3, "warm-up readings acknowledged: rc=%s %s %s"
            % (rc, s, err[-500:]))
    tap = netns.Tap(root, broker, "lagging")

    h0 = chain.status(lag)["height"]
    isolate_from_peers(prefix, lag, others)
    t.log("%s (the bridge's node) cut off from its peers at height %d" % (chain.ids[lag], h0))
    # Registered through the others, the first readings sent at once (no grace: a device that
    # registered hears `unregistered` only if it is not registered).
    pending_seen = []
    done = threading.Event()

    def watch_pending():
        while not done.is_set():
            st = chain.status(lag)
            if st:
                pending_seen.append(st.get("pending_batches", 0))
            time.sleep(0.2)
    watcher = threading.Thread(target=watch_pending, daemon=True)
    watcher.start()
    rc, s, err = sim("--register", "--devices=%d" % DEVICES, "--device_prefix=fresh",
                     "--count=%d" % COUNT, "--rate=%d" % RATE, "--register_grace_ms=0",
                     "--ack_timeout_ms=120000", chain.nodes_flag_without(lag))
    st_lag = chain.status(lag)
    st_other = chain.status(others[0])
    done.set()
    watcher.join(timeout=30)
    if st_lag:
        pending_seen.append(st_lag.get("pending_batches", 0))
    refusals = tap_refusals(tap.path, "fresh")
    refused = [int(x) for x in re.findall(r"ev=bridge_stats.*?ledger_refused=(\d+)",
                                          bridge.log())]
    lag_log = open("%s/%s.log" % (root, chain.ids[lag]), errors="replace").read()
    lag_reasons = re.findall(r'ev=records_refused .*?first="([^"]*)"', lag_log)
    total = DEVICES * COUNT
    t.log("device_sim: rc=%s %s; %s at height %s, %s at %s; %s pending at most %d" % (
        rc, s, chain.ids[lag], st_lag and st_lag["height"], chain.ids[others[0]],
        st_other and st_other["height"], chain.ids[lag], max(pending_seen or [0])))
    t.check(st_lag is not None and st_other is not None and
            st_lag["height"] < st_other["height"],
            "%s stayed behind while the devices registered: %s vs %s" % (
                chain.ids[lag], st_lag, st_other))
    t.check(not refusals, "the lagging node's refusals reached the devices: %d answers, first %s;"
            " its log: %s" % (len(refusals), refusals[:2], lag_reasons[:2]))
    t.check(not any(refused), "the bridge counted refusals by the ledger: ledger_refused=%s"
            % max(refused or [0]))
    t.check(rc == 0 and s and not s["errors"] and s["unanswered"] == 0 and
            s["acked_recorded"] == total,
            "every first reading acknowledged as recorded: rc=%s %s %s" % (rc, s, err[-800:]))
    t.check(max(pending_seen or [0]) > 0,
            "%s never held a submission while behind (the test did not reach it): %s" % (
                chain.ids[lag], pending_seen[-10:]))

    # A gateway registered while LAG is behind: a bridge asking LAG first hears NOT_FOUND
    # there, and must ask the others instead of exiting.
    t.ctl("keygen", "--out=%s/gw-late.key" % root)
    t.ctl("register-gateway", "--id=gw-late", "--key=%s/gw-late.key" % root,
          "--admin_key=%s/admin.key" % root, "--genesis=" + chain.genesis,
          chain.nodes_flag_without(lag))
    late = t.BridgeProc(netns.Ordered(chain, order), broker, name="late", gateway="gw-late",
                        extra=["--client_id=pl-lagging-late"])
    late.start()  # fails the test if the bridge exits first
    found = [l for l in late.log().splitlines() if "ev=gateway_found_elsewhere" in l]
    t.check(found and chain.addr(lag) + " says NOT_FOUND" in found[0],
            "the late bridge asked %s first and heard NOT_FOUND: %s" % (chain.ids[lag], found))
    t.log("a bridge of gw-late, registered while %s was behind, started asking it first" %
          chain.ids[lag])
    late.kill(signal.SIGTERM)

    netns.heal(prefix, lag)
    t.log("%s healed" % chain.ids[lag])

    def caught_up():
        sts = [chain.status(i) for i in range(N)]
        return all(sts) and len({(x["height"], x["head_hash"]) for x in sts}) == 1
    t.wait_for(caught_up, 180, "every node at one height and head after the heal")
    for i in range(N):
        for d in range(DEVICES):
            device = "fresh-%d" % d
            _, out, _ = t.ctl("history", "--device=" + device, "--all", "--limit=1000", "--json",
                              "--timeout_ms=20000", "--node=" + chain.addr(i))
            seqs = [e["seq"] for e in json.loads(out)]
            t.check(len(seqs) == COUNT and len(set(seqs)) == COUNT,
                    "%s holds each of %s's %d readings once: %d records, %d seqs" % (
                        chain.ids[i], device, COUNT, len(seqs), len(set(seqs))))
    t.log("all %d first readings committed once on every node, none refused" % total)

    # A device revoked on the ledger, its key still in the bridge: the block refuses its
    # reading, and the bridge answers `unregistered`.
    t.ctl("revoke-device", "--id=fresh-0", "--admin_key=%s/admin.key" % root,
          "--genesis=" + chain.genesis, chain.nodes_flag())
    rc, s, err = sim("--devices=1", "--device_prefix=fresh", "--count=2",
                     "--expect_error=unregistered", "--ack_timeout_ms=60000")
    t.check(rc == 0, "a revoked device the bridge still knows is answered unregistered: rc=%s "
            "%s %s" % (rc, s, err[-800:]))
    _, out, _ = t.ctl("history", "--device=fresh-0", "--all", "--limit=1000", "--json",
                      chain.nodes_flag())
    t.check(len(json.loads(out)) == COUNT, "nothing of the revoked device recorded after it")
    t.log("revoked device refused by the block, answered unregistered")
    tap.stop()
    print("PASS")


if __name__ == "__main__":
    main()
