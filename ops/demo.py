"""The main job, step by step: a chain, Mosquitto, a bridge, simulated devices, a proof.

Run through ops/demo.sh (which builds first). Uses the same launcher code as the
integration tests (tests/integration/pltest.py), with binaries from bazel-bin/.
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import pltest as t  # noqa: E402


def step(msg):
    print("\n== %s" % msg, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", default="/tmp/provledger-demo")
    ap.add_argument("--validators", type=int, default=4)
    ap.add_argument("--devices", type=int, default=4)
    ap.add_argument("--count", type=int, default=25)
    ap.add_argument("--keep", action="store_true", help="leave the processes running")
    a = ap.parse_args()

    t.bridge_bins()
    for b in (t.LEDGER_NODE, t.LEDGERCTL, t.MQTT_BRIDGE, t.DEVICE_SIM):
        t.check(os.path.exists(b), "missing %s: run ops/demo.sh, which builds it" % b)
    os.environ["TEST_TMPDIR"] = os.path.dirname(a.dir.rstrip("/")) or "/tmp"
    root = t.tmpdir(os.path.basename(a.dir.rstrip("/")))

    step("chain: keys and genesis for %d validator(s) in %s" % (a.validators, root))
    chain = t.Chain(root, n=a.validators, chain_id="demo")
    print(open(chain.genesis).read())
    for i in range(a.validators):
        chain.start(i)
    print(json.dumps(chain.status(), indent=1))

    step("registry: gateway gw-1 (admin-signed, committed on the ledger)")
    chain.register(devices=())
    broker = t.Mosquitto(root)
    print("mosquitto on %s" % broker.uri())
    bridge = t.BridgeProc(chain, broker)
    bridge.start()
    print("bridge gw-1 ready (log: %s)" % bridge.logpath)

    procs = []
    try:
        for mode in ("mac", "sig"):
            step("devices: %d simulated devices, %s mode, %d readings each, QoS 1"
                 % (a.devices, mode, a.count))
            rc, summary, err = t.device_sim(
                chain, broker, "--register", "--devices=%d" % a.devices,
                "--device_prefix=%s-dev" % mode, "--mode=" + mode, "--count=%d" % a.count,
                "--item=temp", "--qos=1", "--gateway_id=gw-1", "--list_records=3")
            print(json.dumps({k: summary[k] for k in summary if k != "records"}, indent=1))
            last = summary
        step("status of the ledger")
        print(t.ctl("status", chain.nodes_flag())[1])

        rid = last["last_record"]
        step("prove record %s (a signed reading) with the genesis file alone" % rid)
        rc, out, err = t.ctl("prove", rid, "--genesis=" + chain.genesis, "--json",
                             chain.nodes_flag())
        proof_path = os.path.join(root, "proof.json")
        with open(proof_path, "w") as f:
            f.write(out)
        print(json.dumps(json.loads(out), indent=1))
        dev = last["records"][-1]["device"]
        rc, out, err = t.ctl("verify-proof", "--genesis=" + chain.genesis, "--proof=" + proof_path,
                             "--device_pubkey=%s/devkeys/%s.key" % (root, dev))
        print(err.strip())
        t.check(rc == 0, "proof verification failed")
        print("\nDEMO OK: reading %s from %s is final on chain 'demo' and proven "
              "(proof: %s)" % (rid[:16], dev, proof_path))
    finally:
        if not a.keep:
            bridge.kill()
            broker.stop()
            chain.stop_all()
        else:
            print("processes left running; data in %s" % root)


if __name__ == "__main__":
    main()
