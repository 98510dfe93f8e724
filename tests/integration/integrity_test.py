"""Integrity appraisal at the bridge, recorded on the ledger (issue 13; PROTOCOL.md section 7,
docs/INTEGRITY.md). A real Mosquitto, a 4-validator PBFT ledger and one bridge:

- a runtime policy imported from Keylime's JSON and bound to the device; a stale version
  refused;
- a clean report -> `trusted` on integrity/verdict, its attestation provable; the next
  reading's record carries integrity trusted and the attestation's id;
- a repeated report appraises nothing again;
- a report with a changed hash (MACed) -> `untrusted` naming the failing entry; the next
  reading is marked untrusted;
- after a bridge restart with quarantine on, the status is kept (readings refused
  `quarantined`) and so are the counts (a report continuing at the count is not a gap); that
  trusted report lifts the quarantine;
- a report whose `from` skips entries -> `untrusted`; a malformed report -> integrity/error;
- `ledgerctl integrity DEVICE` lists the history."""
import json
import os
import re
import signal
import subprocess
import time

import pltest as t

BOOT = "6f1c2a4e-0b7d-4a8e-9c3f-2d5e7a9b1c0d"
H_BASH = "a1" * 32
H_LS = "b2" * 32
H_EVIL = "e3" * 32
DEV = "att-0"


def entry(path, hexhash):
    return {"pcr": 10, "template": "ima-ng", "hash": "sha256:" + hexhash, "path": path}


def latency_bench(report):
    """PL_INTEGRITY_LATENCY_REPORTS=N (docs/BENCHMARKS.md): N reports of
    PL_INTEGRITY_LATENCY_ENTRIES entries (default 100) one after another, each appraised
    trusted; prints publish -> verdict p50/p99. Skipped when unset; never asserts on speed."""
    n = int(os.environ.get("PL_INTEGRITY_LATENCY_REPORTS", "0"))
    if n == 0:
        return
    size = int(os.environ.get("PL_INTEGRITY_LATENCY_ENTRIES", "100"))
    boot = BOOT.replace("6f1c", "8f1c")
    lat = []
    for i in range(n):
        entries = [entry("/usr/bin/bash", H_BASH) if j % 2 else entry("/usr/bin/ls", H_LS)
                   for j in range(size)]
        a = report("bench-%d" % i, {"v": 1, "boot": boot, "from": i * size, "entries": entries},
                   "--mode=sig")
        t.check(a["answer"]["verdict"] == "trusted", "bench report trusted: %s" % a)
        lat.append(a["latency_ms"])
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    t.log("latency: %d reports of %d entries, publish -> verdict ms p50 %d p99 %d max %d" %
          (n, size, pct(0.50), pct(0.99), lat[-1]))


def main():
    t.bridge_bins()
    root = t.tmpdir("integrity")
    chain = t.Chain(root, n=4)
    for i in range(4):
        chain.start(i)
    t.wait_for(lambda: all(chain.status(i) for i in range(4)), 60, "4 validators answer")
    chain.register(gateway="gw-1", devices=())
    broker = t.Mosquitto(root)
    bridge = t.BridgeProc(chain, broker, extra=["--quarantine=false"])
    bridge.start()
    sim = lambda *a, **k: t.device_sim(chain, broker, "--device_prefix=att", *a, **k)
    sim("--register", "--mode=sig", "--count=1", "--register_grace_ms=20000")

    admin = ["--admin_key=%s/admin.key" % root, "--genesis=" + chain.genesis, chain.nodes_flag()]
    # ---- the policy, from Keylime's runtime-policy JSON --------------------------------
    keylime = {"meta": {"version": 1, "generator": 3}, "release": 0,
               "digests": {"/usr/bin/bash": [H_BASH.upper()], "/usr/bin/ls": [H_LS]},
               "excludes": ["/tmp/.*"], "keyrings": {}, "ima-buf": {},
               "verification-keys": ""}
    kfile = os.path.join(root, "keylime.json")
    with open(kfile, "w") as f:
        json.dump(keylime, f)
    imp = t.ctl_json("policy", "import", "--name=base", "--file=" + kfile, *admin)
    t.check(imp["version"] == 1 and imp["paths"] == 2 and imp["excludes"] == 1,
            "policy imported: %s" % imp)
    rc, _, err = t.ctl("policy", "import", "--name=base", "--file=" + kfile,
                       "--policy_version=1", *admin, check_rc=False)
    t.check(rc != 0 and "not above" in err, "a policy version not above the registered one is "
            "refused: rc=%d %s" % (rc, err))
    t.ctl("policy", "bind", "--name=base", "--device=" + DEV, *admin)
    listing = t.ctl_json("policy", "list", chain.nodes_flag())
    t.check([p["name"] for p in listing["policies"]] == ["base"] and
            listing["bindings"][0]["device"] == DEV, "policy list: %s" % listing)
    t.wait_for(lambda: "ev=policy_bindings devices=1 models=0" in bridge.log(), 30,
               "the bridge loads the policy and its binding")
    time.sleep(0.5)  # past the refresh that logged it

    seq_report = {}

    def report(name, rep, *extra, expect_verdict=True):
        path = os.path.join(root, name + ".json")
        with open(path, "w") as f:
            f.write(rep if isinstance(rep, str) else json.dumps(rep))
        rc, out, _ = sim("--integrity_report=" + path, "--ack_timeout_ms=60000", *extra,
                         check_rc=False)
        t.check(out is not None, "%s: device_sim printed the answer (rc=%d)" % (name, rc))
        t.check((rc == 0) == expect_verdict, "%s: rc=%d %s" % (name, rc, out))
        seq_report[name] = out["seq"]
        return out

    def latest_reading():
        """Publishes one signed reading and returns its record decoded by prove --json."""
        sim("--mode=sig", "--count=1")
        hist = t.ctl_json("history", "--device=" + DEV, "--item=temp", "--all", chain.nodes_flag())
        rid = max(hist, key=lambda e: e["seq"])["record_id"]
        proof = t.ctl_json("prove", rid, "--genesis=" + chain.genesis, chain.nodes_flag())
        return proof["decoded"]

    # ---- a clean report ------------------------------------------------------------------
    clean = {"v": 1, "boot": BOOT, "from": 0,
             "entries": [entry("/usr/bin/bash", H_BASH), entry("/usr/bin/ls", H_LS),
                         entry("/tmp/scratch", H_EVIL)]}
    a1 = report("clean", clean, "--mode=sig")
    v1 = a1["answer"]
    t.check(a1["topic"] == "devices/%s/integrity/verdict" % DEV and v1["verdict"] == "trusted"
            and v1["failures"] == [] and v1["seq"] == a1["seq"] and
            re.fullmatch("[0-9a-f]{64}", v1["record"]) and v1["height"] >= 1,
            "clean report trusted: %s" % a1)
    proof = t.ctl_json("prove", v1["record"], "--genesis=" + chain.genesis, chain.nodes_flag())
    t.check(proof["record_id"] == v1["record"] and proof["height"] == v1["height"] and
            proof["decoded"]["type"] == "attestation" and
            proof["decoded"]["verdict"] == "trusted" and
            proof["decoded"]["policy_version"] == 1, "attestation provable: %s" % proof["decoded"])
    # The proof with its decoded keys still verifies on its own (6.6: extra keys ignored).
    pfile = os.path.join(root, "attestation-proof.json")
    with open(pfile, "w") as f:
        json.dump(proof, f)
    t.ctl("verify-proof", "--proof=" + pfile, "--genesis=" + chain.genesis)
    r = latest_reading()
    t.check(r["integrity_status"] == "trusted" and r["attestation"] == v1["record"],
            "the next reading carries trusted + the attestation id: %s" % r)
    t.log("clean report: trusted, record %s at height %d" % (v1["record"][:16], v1["height"]))

    # ---- the same entries again: not appraised twice ----------------------------------
    a_rep = report("repeat", clean, "--mode=sig")
    t.check(a_rep["answer"]["failures"] == [], "repeated report: %s" % a_rep)
    line = [l for l in bridge.log().splitlines()
            if "ev=integrity_appraised" in l and "seq=%d " % a_rep["seq"] in l]
    t.check(line and "appraised=0" in line[0] and "repeated=3" in line[0],
            "the repeated report's entries are not appraised again: %s" % line)

    # ---- a changed binary (MAC mode) ----------------------------------------------------
    changed = {"v": 1, "boot": BOOT, "from": 3, "entries": [entry("/usr/bin/ls", H_EVIL)]}
    a2 = report("changed", changed, "--mode=mac", "--gateway_id=gw-1")
    v2 = a2["answer"]
    t.check(v2["verdict"] == "untrusted" and
            v2["failures"] == [{"path": "/usr/bin/ls", "hash": "sha256:" + H_EVIL}],
            "changed hash untrusted with the failing entry: %s" % a2)
    r = latest_reading()
    t.check(r["integrity_status"] == "untrusted" and r["attestation"] == v2["record"],
            "the next reading is marked untrusted: %s" % r)
    t.log("changed hash: untrusted, failing entry named; readings marked")

    # ---- restart with quarantine on: status and counts kept -----------------------------
    bridge.kill(signal.SIGTERM)
    bridge = t.BridgeProc(chain, broker)  # --quarantine defaults to on
    bridge.start()
    t.wait_for(lambda: bridge.log().count("ev=policy_loaded policy=base") >= 2, 30,
               "policy after the restart")
    sim("--mode=sig", "--count=1", "--expect_error=quarantined")
    t.log("after the restart an untrusted device's reading is refused quarantined")
    # Count 4 kept: from 4 is no gap. A bridge that forgot would call it lost.
    lift = {"v": 1, "boot": BOOT, "from": 4, "entries": [entry("/usr/bin/bash", H_BASH)]}
    a3 = report("lift", lift, "--mode=sig")
    t.check(a3["answer"]["verdict"] == "trusted" and a3["answer"]["failures"] == [],
            "a report continuing at the kept count is trusted: %s" % a3)
    r = latest_reading()  # accepted again: the quarantine is lifted
    t.check(r["integrity_status"] == "trusted" and r["attestation"] == a3["answer"]["record"],
            "quarantine lifted by the trusted report: %s" % r)

    # ---- a gap in `from` ---------------------------------------------------------------
    gap = {"v": 1, "boot": BOOT, "from": 9, "entries": [entry("/usr/bin/bash", H_BASH)]}
    a4 = report("gap", gap, "--mode=sig")
    t.check(a4["answer"]["verdict"] == "untrusted" and a4["answer"]["failures"] == [],
            "a report that skips entries is untrusted: %s" % a4)
    sim("--mode=sig", "--count=1", "--expect_error=quarantined")
    # A new boot starts a new list at 0.
    a5 = report("newboot", {"v": 1, "boot": BOOT.replace("6f1c", "7f1c"), "from": 0,
                            "entries": [entry("/usr/bin/ls", H_LS)]}, "--mode=sig")
    t.check(a5["answer"]["verdict"] == "trusted", "a new boot starts at 0: %s" % a5)

    # ---- a malformed report ------------------------------------------------------------
    a6 = report("malformed", '{"v":1,"boot":"x","from":0,"entries":[]}', "--mode=sig",
                expect_verdict=False)
    t.check(a6["topic"] == "devices/%s/integrity/error" % DEV and
            a6["answer"]["code"] == "malformed" and a6["answer"]["seq"] == a6["seq"] and
            a6["answer"]["item"] == "_integrity", "malformed report refused: %s" % a6)

    # ---- a policy bound to a model; a device without a policy --------------------------
    t.ctl("keygen", "--out=%s/devkeys/mdl-0.key" % root)
    t.ctl("register-device", "--id=mdl-0", "--key=%s/devkeys/mdl-0.key" % root,
          "--model=t1000", *admin)
    t.ctl("policy", "bind", "--name=base", "--model=t1000", *admin)
    sim("--register", "--device_prefix=nop", "--mode=sig", "--count=1",
        "--register_grace_ms=20000")
    t.wait_for(lambda: "ev=policy_bindings devices=1 models=1" in bridge.log(), 30,
               "the bridge sees the model binding")
    time.sleep(0.5)
    rc, out, _ = t.device_sim(chain, broker, "--device_prefix=mdl", "--mode=sig",
                              "--integrity_report=%s/clean.json" % root, "--ack_timeout_ms=60000")
    t.check(out["answer"]["verdict"] == "trusted", "a model's policy appraises: %s" % out)
    proof = t.ctl_json("prove", out["answer"]["record"], "--genesis=" + chain.genesis,
                       chain.nodes_flag())
    t.check(proof["decoded"]["policy_version"] == 1, "model binding: %s" % proof["decoded"])
    rc, out, _ = t.device_sim(chain, broker, "--device_prefix=nop", "--mode=sig",
                              "--integrity_report=%s/clean.json" % root, "--ack_timeout_ms=60000")
    t.check(out["answer"]["verdict"] == "untrusted" and len(out["answer"]["failures"]) == 3,
            "without a policy every entry fails: %s" % out)
    t.log("model binding appraises; a device without a policy is untrusted")

    # ---- the history ---------------------------------------------------------------------
    hist = t.ctl_json("integrity", DEV, chain.nodes_flag())["attestations"]
    t.check([h["verdict"] for h in hist] ==
            ["trusted", "trusted", "untrusted", "trusted", "untrusted", "trusted"],
            "integrity history: %s" % hist)
    t.check(hist[2]["failures"] == v2["failures"] and hist[2]["record"] == v2["record"] and
            all(h["policy_version"] == 1 for h in hist), "history entries: %s" % hist)
    _, text, _ = t.ctl("integrity", DEV, chain.nodes_flag())
    t.check("failed: /usr/bin/ls sha256:" + H_EVIL in text, "human history: %s" % text)
    latency_bench(report)
    t.check_sanitizer_logs(root)
    t.log("PASS")


if __name__ == "__main__":
    main()
