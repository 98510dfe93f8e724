"""Issue 17, "a gateway that drops readings is caught", end to end (docs/ACCOUNTS.md): a real
Mosquitto, a real 4-validator PBFT ledger, the real bridge, device_sim.

1. A dishonest gateway: the bridge's own code linked with a test seam that drops every 50th
   reading of each device without a trace (taken in, PUBACKed, never recorded, never
   answered). device_sim sends 500 readings with an account every 100. `ledgerctl audit`
   names exactly the dropped seqs (the set equals both the one computed from device_sim's
   seq layout and the one the seam logged), each through gw-1, and exits 3.
2. The real bridge: the same run on another device; audit finds nothing missing, every chain
   head matches, exit 0.
   The gateway then records readings of its own in place of the first account's two dropped
   ones: they are no longer missing, but that account's chain head no longer matches (exit 3).
3. A device that never sends accounts: audit has nothing to compare and exits 0.
"""
import json
import os
import re
import signal
import subprocess
import time

import pltest as t

COUNT = 500
EVERY = 100      # an account every 100 readings
DROP_EVERY = 50  # the dishonest bridge drops every 50th reading
SEQ0 = 1000


def reading_seq(k):
    """device_sim's pl-seq of reading k (0-based): one sequence, an account after every EVERY
    readings takes the next seq."""
    return SEQ0 + k + k // EVERY


def audit(chain, device):
    """(rc, --json document, text output) of ledgerctl audit DEVICE."""
    start = time.monotonic()
    p = subprocess.run(t.with_transport([t.LEDGERCTL, "audit", device, "--json", chain.nodes_flag()]),
                       capture_output=True, text=True, timeout=120)
    t.log("ledgerctl audit %s --json: %.2f s wall" % (device, time.monotonic() - start))
    doc = json.loads(p.stdout) if p.stdout.strip().startswith("{") else None
    text = subprocess.run(t.with_transport([t.LEDGERCTL, "audit", device, chain.nodes_flag()]),
                          capture_output=True, text=True, timeout=120)
    t.check(text.returncode == p.returncode, "text and --json audit agree on the exit code")
    return p.returncode, doc, text.stdout + text.stderr


def run_device(chain, broker, prefix, *extra, check_rc=True):
    return t.device_sim(chain, broker, "--register", "--devices=1", "--device_prefix=" + prefix,
                        "--count=%d" % COUNT, "--seq_start=%d" % SEQ0,
                        "--account_every=%d" % EVERY, "--register_grace_ms=20000", *extra,
                        check_rc=check_rc, timeout=400)


def main():
    t.bridge_bins()
    root = t.tmpdir("audit")
    chain = t.Chain(root, n=4)
    chain.start_all()
    chain.register(devices=())
    broker = t.Mosquitto(root)

    # ---- 1. The dropping bridge ----------------------------------------------------------
    real_bridge = t.MQTT_BRIDGE
    t.MQTT_BRIDGE = t.runfile("tests/integration/dropping_bridge")
    os.environ["PL_TEST_DROP_EVERY"] = str(DROP_EVERY)
    bad = t.BridgeProc(chain, broker, name="dropping")
    bad.start()
    t.MQTT_BRIDGE = real_bridge
    del os.environ["PL_TEST_DROP_EVERY"]

    rc, s, err = run_device(chain, broker, "victim", "--ack_timeout_ms=15000", check_rc=False)
    t.check(s is not None, "device_sim summary: %s" % err[-800:])
    t.log("victim: %s acknowledged, %s unanswered, accounts %s" %
          (s["acked_recorded"], s["unanswered"], s.get("accounts")))
    expected = {reading_seq(k) for k in range(COUNT) if (k + 1) % DROP_EVERY == 0}
    t.check(len(expected) == COUNT // DROP_EVERY, "10 readings to be dropped")
    t.check(s["unanswered"] == len(expected) and s["acked_recorded"] == COUNT - len(expected),
            "the dropped readings are the only unanswered ones: %s" % s)
    t.check(s.get("accounts") == {"sent": COUNT // EVERY, "recorded": COUNT // EVERY,
                                  "refused": 0},
            "every account acknowledged: %s" % s.get("accounts"))
    logged = {int(m) for m in re.findall(r"ev=test_reading_dropped .*?seq=(\d+)", bad.log())}
    t.check(logged == expected, "the seam dropped exactly %s (logged %s)" %
            (sorted(expected), sorted(logged)))
    t.check(len(chain.history("victim-0")) == COUNT - len(expected) + COUNT // EVERY,
            "the ledger holds the readings not dropped and the accounts")

    rc, doc, text = audit(chain, "victim-0")
    t.log("audit victim-0 (exit %d):\n%s" % (rc, text))
    t.check(rc == 3, "audit exits 3 when readings are missing (got %d)" % rc)
    t.check(doc is not None and not doc["ok"], "audit --json says not ok")
    named = {m["seq"] for m in doc["missing"]}
    t.check(named == expected, "audit names exactly the dropped seqs: %s, expected %s" %
            (sorted(named), sorted(expected)))
    t.check(all(m["gateways"] == ["gw-1"] for m in doc["missing"]),
            "each through gw-1: %s" % doc["missing"])
    t.check(doc["missing_by_gateway"] == {"gw-1": sorted(expected)},
            "summary by gateway: %s" % doc["missing_by_gateway"])
    t.check(len(doc["accounts"]) == COUNT // EVERY and
            all(a["link"] in ("linked", "new chain") for a in doc["accounts"]),
            "5 linked accounts on the ledger: %s" % doc["accounts"])
    for seq in sorted(expected):
        t.check("MISSING seq %d " % seq in text, "the text output names seq %d" % seq)
    t.check("missing through gw-1: 10" in text, "the text output sums up per gateway")

    # The same gateway now records other readings in place of the two dropped from the
    # first account (ledgerctl submit: a batch signed with gw-1's key): nothing of that
    # account is missing any more, but its chain head no longer matches what the device sent.
    forged = sorted(expected)[:2]
    for seq in forged:
        t.ctl("submit", "--gateway=gw-1", "--gateway_key=%s/gw-1.key" % root,
              "--device=victim-0", "--device_key=%s/devkeys/victim-0.key" % root,
              "--seq=%d" % seq, "--item=temp", "--payload=forged", "--genesis=" + chain.genesis,
              chain.nodes_flag())
    rc, doc, text = audit(chain, "victim-0")
    t.log("audit victim-0 after the forgery (exit %d):\n%s" % (rc, text))
    first = doc["accounts"][0]
    t.check(rc == 3 and {m["seq"] for m in doc["missing"]} == expected - set(forged),
            "the forged seqs are no longer missing, the other 8 still are: %s" % doc["missing"])
    t.check(first["missing"] == 0 and first["chain"] == "MISMATCH" and
            all(a["chain"] != "MISMATCH" for a in doc["accounts"][1:]),
            "the first account's chain head no longer matches: %s" % doc["accounts"])
    t.check(any("chain head differs" in f and "gw-1" in f for f in doc["failures"]),
            "the failure names the account and its gateway: %s" % doc["failures"])
    bad.kill(signal.SIGTERM)

    # ---- 2. The real bridge --------------------------------------------------------------
    good = t.BridgeProc(chain, broker, name="honest")
    good.start()
    rc, s, err = run_device(chain, broker, "honest")
    t.check(s["acked_recorded"] == COUNT and s["unanswered"] == 0 and
            s.get("accounts", {}).get("recorded") == COUNT // EVERY,
            "the real bridge records every reading and account: %s" % s)
    rc, doc, text = audit(chain, "honest-0")
    t.log("audit honest-0 (exit %d):\n%s" % (rc, text))
    t.check(rc == 0 and doc["ok"] and doc["missing"] == [] and doc["failures"] == [],
            "nothing missing with the real bridge: %s" % doc)
    t.check(doc["accounted"] == COUNT and
            all(a["chain"] == "matches" for a in doc["accounts"]),
            "every chain head recomputed from the ledger matches: %s" % doc["accounts"])
    t.check("OK: every message the device accounted for is on the ledger" in text,
            "the text output says OK")

    # ---- 3. A device that never sends accounts -------------------------------------------
    t.device_sim(chain, broker, "--register", "--devices=1", "--device_prefix=plain",
                 "--count=20", "--register_grace_ms=20000")
    rc, doc, text = audit(chain, "plain-0")
    t.check(rc == 0 and doc["ok"] and doc["accounts"] == [] and doc["recorded"] == 20,
            "a device without accounts: nothing to compare, exit 0: %s" % doc)
    t.check("no account on the ledger" in text, "the text output says there is no account")

    good.kill(signal.SIGTERM)
    broker.stop()
    chain.stop_all()
    t.check_sanitizer_logs(root)
    print("PASS")


if __name__ == "__main__":
    main()
