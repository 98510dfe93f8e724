"""A real ledger_node on loopback: submit, refuse bad input, kill -9 under load, restart,
and show every acknowledged record is still there and provable; then flip a stored byte and
show it is reported, never served as good."""
import glob
import json
import os
import signal
import threading
import time

import pltest as t


def main():
    t.bins()
    root = t.tmpdir("durability")
    chain = t.Chain(root, n=1)
    chain.start(0)
    chain.register(devices=("dev-1", "dev-2"))
    nodes = chain.nodes_flag()

    # 1. A resent batch is answered with the first copy's location, never written twice.
    args = chain.submit_args() + ["--count=5", "--seq=100", "--ts=1700000000000", "--json"]
    first = t.ctl_json(*args[:-1])
    again = t.ctl_json(*args[:-1])
    t.check([r["outcome"] for r in first] == ["committed"] * 5, "first submission committed")
    t.check([r["outcome"] for r in again] == ["duplicate"] * 5, "resend answered duplicate: %s" % again)
    t.check([(r["record_id"], r["height"], r["index"]) for r in first] ==
            [(r["record_id"], r["height"], r["index"]) for r in again], "duplicate points at the original")
    # Same (device, seq), different content: a conflict, not a second record.
    conflict = t.ctl_json(*(chain.submit_args() + ["--count=1", "--seq=100", "--ts=1700000000001"]))
    t.check(conflict[0]["outcome"] == "conflict", "same seq with other bytes is a conflict")
    t.log("duplicates and conflicts: ok")

    # ledgerctl verify: the payload a reading carried, checked against the ledger by device and
    # seq; a different payload is refused.
    with open(root + "/payload.txt", "w") as f:
        f.write("21.5")
    with open(root + "/other.txt", "w") as f:
        f.write("99.9")
    one = t.ctl_json(*(chain.submit_args() + ["--count=1", "--seq=500", "--payload=21.5"]))
    rc, out, err = t.ctl("verify", "--payload=%s/payload.txt" % root, "--device=dev-1", "--seq=500",
                         "--genesis=" + chain.genesis, "--device_pubkey=%s/dev-1.key" % root,
                         nodes, check_rc=False)
    t.check(rc == 0 and "payload matches" in err and "device signature verifies" in err,
            "verify accepts the recorded payload: %s %s" % (out, err))
    rc, out, err = t.ctl("verify", one[0]["record_id"], "--payload=%s/other.txt" % root,
                         "--genesis=" + chain.genesis, nodes, check_rc=False)
    t.check(rc == 3 and "REJECTED" in err, "verify refuses another payload: rc=%d %s" % (rc, err))

    # 2. Bad input gets a clear error and changes nothing.
    height_before = chain.status()["height"]
    t.ctl("keygen", "--out=%s/rogue.key" % root)
    rc, _, err = t.ctl("submit", "--gateway=gw-rogue", "--gateway_key=%s/rogue.key" % root,
                       "--device=dev-1", "--device_key=%s/dev-1.key" % root,
                       "--genesis=" + chain.genesis, nodes, check_rc=False)
    t.check(rc != 0 and "PERMISSION_DENIED" in err and "not registered" in err,
            "unregistered gateway refused: %s" % err)
    rc, _, err = t.ctl("submit", "--gateway=gw-1", "--gateway_key=%s/rogue.key" % root,
                       "--device=dev-1", "--device_key=%s/dev-1.key" % root,
                       "--genesis=" + chain.genesis, nodes, check_rc=False)
    t.check(rc != 0 and "UNAUTHENTICATED" in err, "forged gateway signature refused: %s" % err)
    t.check(chain.status()["height"] == height_before, "refused batches wrote nothing")
    # A record's device is the block's to refuse (a node may be behind on registrations, issue
    # 17): the batch is ordered, its block refuses the record and holds none.
    records_before = chain.status()["records"]
    rc, _, err = t.ctl("submit", "--gateway=gw-1", "--gateway_key=%s/gw-1.key" % root,
                       "--device=dev-9", "--device_key=%s/dev-1.key" % root,
                       "--genesis=" + chain.genesis, nodes, check_rc=False)
    t.check(rc != 0 and "dev-9" in err and "not registered" in err,
            "unknown device refused: %s" % err)
    t.check(chain.status()["records"] == records_before, "the refused record was not written")
    t.log("refusals: ok")

    # 3. kill -9 while three submitters write; every acknowledged record survives.
    acked = {}
    lock = threading.Lock()
    stop = threading.Event()

    def submitter(k):
        seq = 1000000 * (k + 1)
        dev = "dev-1" if k % 2 == 0 else "dev-2"
        while not stop.is_set():
            rc, out, _ = t.ctl(*(chain.submit_args(device=dev) +
                                 ["--count=20", "--seq=%d" % seq, "--json", "--timeout_ms=3000"]),
                               check_rc=False)
            seq += 20
            if rc == 0:
                with lock:
                    for r in json.loads(out):
                        acked[r["record_id"]] = r["height"]

    threads = [threading.Thread(target=submitter, args=(k,)) for k in range(3)]
    for th in threads:
        th.start()
    t.wait_for(lambda: len(acked) >= 300, 60, "300 acknowledged records")
    chain.kill(0, signal.SIGKILL)
    killed_at = len(acked)
    time.sleep(0.3)
    stop.set()
    for th in threads:
        th.join()
    t.log("killed with %d acknowledged records" % killed_at)

    chain.start(0)
    st = chain.status()
    t.check(st["height"] >= max(acked.values()), "head %d below an acknowledged height" % st["height"])
    missing = []
    for rid in acked:
        rc, out, err = t.ctl("prove", rid, "--genesis=" + chain.genesis, "--json", nodes,
                             check_rc=False)
        if rc != 0:
            missing.append((rid, err))
    t.check(not missing, "%d acknowledged records lost or unprovable: %s" % (len(missing), missing[:3]))
    t.log("all %d acknowledged records provable after kill -9" % len(acked))

    # Writing goes on after the restart.
    more = t.ctl_json(*(chain.submit_args() + ["--count=3", "--seq=9000000"]))
    t.check(all(r["outcome"] == "committed" for r in more), "commits resume after restart")

    # 4. The whole chain checks out, over gRPC while the node runs and on its stopped store;
    # then a flipped byte on disk is reported.
    rc, out, err = t.ctl("verify-chain", "--genesis=" + chain.genesis, nodes, check_rc=False)
    t.check(rc == 0 and "chain OK" in out and "every certificate valid" in out,
            "verify-chain over gRPC: %s %s" % (out, err))
    chain.kill(0, signal.SIGTERM)
    rc, out, err = t.ctl("verify-chain", "--data_dir=%s/v0" % root, "--genesis=" + chain.genesis,
                         check_rc=False)
    t.check(rc == 0 and "chain OK" in out, "verify-chain after crash: %s %s" % (out, err))
    ssts = sorted(glob.glob("%s/v0/chain/*.sst" % root), key=os.path.getsize)
    t.check(ssts, "store has table files after a clean stop")
    victim = ssts[-1]
    size = os.path.getsize(victim)
    with open(victim, "r+b") as f:
        f.seek(size // 3)
        b = f.read(1)
        f.seek(size // 3)
        f.write(bytes([b[0] ^ 0x01]))
    rc, out, err = t.ctl("verify-chain", "--data_dir=%s/v0" % root, "--genesis=" + chain.genesis,
                         check_rc=False)
    t.check(rc != 0 and ("CHAIN BAD" in err or "DATA_LOSS" in err or "orrupt" in err),
            "flipped byte reported: rc=%d %s %s" % (rc, out, err))
    t.log("flipped byte reported: " + err.strip().splitlines()[-1])
    t.check_sanitizer_logs(root)
    print("PASS")


if __name__ == "__main__":
    main()
