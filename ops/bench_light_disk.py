"""Disk per mode for the same chain (docs/BENCHMARKS.md "Light nodes: disk per mode").

Four validators, a full follower and a light follower (--mode=light --retain_blocks=10) on
loopback; three submitters send batches of 200 readings with a fixed payload of
--payload_bytes for --seconds; then every node is stopped (RocksDB flushes) and the chain
folders of the two followers are measured as ev=pruned measures them (no LOG/OPTIONS files).

    bazel build --jobs=2 //node:ledger_node //tools/ledgerctl
    PL_BIN_DIR=$PWD/bazel-bin python3 ops/bench_light_disk.py [--payload_bytes=1000] [--seconds=150]

Payloads under 4 KiB stay in the LSM tree, where RocksDB compresses them (a fixed payload
shrinks to almost nothing); from 4 KiB they go to blob files uncompressed.
"""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import pltest as t  # noqa: E402
from light_follower_test import dir_bytes  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--payload_bytes", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=150)
    args = ap.parse_args()
    os.environ.setdefault("TEST_TMPDIR", "/tmp/provledger-bench-light")
    t.bins()
    root = t.tmpdir("run%d" % args.payload_bytes)
    chain = t.Chain(root, n=4)
    chain.start_all()
    chain.register()
    fproc, faddr = chain.start_follower("f0")
    lproc, laddr = chain.start_follower("l0", extra=["--mode=light", "--retain_blocks=10"])
    stop = threading.Event()
    payload = "x" * args.payload_bytes

    def load(k):
        seq = 1000000 * (k + 1)
        while not stop.is_set():
            t.ctl("submit", "--gateway=gw-1", "--gateway_key=%s/gw-1.key" % root,
                  "--device=dev-1", "--device_key=%s/dev-1.key" % root,
                  "--genesis=" + chain.genesis, chain.nodes_flag(), "--count=200",
                  "--seq=%d" % seq, "--payload=" + payload, check_rc=False, timeout=120)
            seq += 200

    threads = [threading.Thread(target=load, args=(k,), daemon=True) for k in range(3)]
    for th in threads:
        th.start()
    time.sleep(args.seconds)
    stop.set()
    for th in threads:
        th.join(timeout=120)
    t.wait_for(lambda: chain.status(laddr)["height"] == chain.status(faddr)["height"] ==
               chain.status(0)["height"], 60, "followers at the head")
    st = chain.status(laddr)
    for p in (lproc, fproc):
        p.terminate()
        p.wait(timeout=30)
    chain.stop_all()
    light, full = dir_bytes(root + "/l0/chain"), dir_bytes(root + "/f0/chain")
    print("payload %d B: %d blocks, %d records, light bodies kept from %d: full %d bytes "
          "(%.0f B/record), light %d bytes (%.0f B/record), light/full %.1f%%" %
          (args.payload_bytes, st["height"], st["records"], st["pruned_below"], full,
           full / st["records"], light, light / st["records"], 100.0 * light / full))


if __name__ == "__main__":
    main()
