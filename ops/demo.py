"""The main job, step by step: a chain, Mosquitto, a bridge, simulated devices, an integrity
agent that attests a device's software, and a proof of one of its readings.

Run through ops/demo.sh (which builds first). The cluster (validators, Mosquitto, the
bridge) comes from ops/cluster, the launcher operators use, whose command lines are the
integration tests' (tests/integration/pltest.py); binaries from bazel-bin/.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import pltest as t  # noqa: E402


def run(cmd, timeout):
    """Runs a command; returns (rc, stdout, stderr)."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


CLUSTER = os.path.join(HERE, "cluster")


def cluster(*args, dir, quiet=False):
    """Runs ops/cluster on `dir`, its output shown (unless `quiet` and it succeeds); stops the
    demo when it fails."""
    p = subprocess.run([sys.executable, CLUSTER, "--dir=" + dir] + list(args),
                       stdout=subprocess.PIPE if quiet else None,
                       stderr=subprocess.STDOUT if quiet else None, text=True)
    t.check(p.returncode == 0, "ops/cluster %s failed (rc=%d)%s" %
            (" ".join(args), p.returncode, ":\n" + p.stdout if quiet else ""))


class ClusterChain:
    """The cluster ops/cluster started, as the pltest helpers (device_sim) expect a chain and
    a broker: from its state file."""

    def __init__(self, d):
        with open(os.path.join(d, "cluster.json")) as f:
            self.state = json.load(f)
        self.root = self.state["dir"]
        self.genesis = self.state["genesis"]
        procs = {p["name"]: p for p in self.state["procs"]}
        self.addrs = [p["addr"] for p in self.state["procs"] if p["kind"] == "validator"]
        self.mqtt_uri = procs["mosquitto"]["uri"]
        self.bridge_log = procs["bridge"]["log"]

    def nodes_flag(self):
        return "--node=" + ",".join(self.addrs)

    def uri(self):
        return self.mqtt_uri


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
    agent_bin = t.runfile("agent/integrity_agent")
    for b in (t.LEDGER_NODE, t.LEDGERCTL, t.MQTT_BRIDGE, t.DEVICE_SIM, agent_bin):
        t.check(os.path.exists(b), "missing %s: run ops/demo.sh, which builds it" % b)

    step("cluster: %d validator(s), Mosquitto and bridge gw-1 from ops/cluster (folder %s)"
         % (a.validators, a.dir))
    cluster("down", "--purge", dir=a.dir)  # a fresh folder: the demo starts from nothing
    cluster("up", "--validators=%d" % a.validators, "--mqtt", "--chain_id=demo", "--tls",
            "--mqtt_device=plant-0", dir=a.dir)
    chain = ClusterChain(a.dir)
    root = chain.root
    print(open(chain.genesis).read())
    broker = chain
    print("mosquitto on %s; bridge gw-1 ready (log: %s)" % (chain.uri(), chain.bridge_log))

    # gRPC is mutual TLS: ledgerctl runs as the admin (registrations) or as a reader
    # (queries), with the certificates ops/cluster made (docs/SECURITY.md).
    as_admin = t.tls_flags(root + "/certs", "admin")
    as_reader = t.tls_flags(root + "/certs", "reader")

    def mqtt_as(user):
        """The broker flags of `user`: ssl://, its password file (ops/cluster made them)."""
        return ["--broker_ca=%s/certs/ca.pem" % root, "--broker_user=" + user,
                "--broker_password_file=%s/mqtt-%s.password" % (root, user)]

    print("certificates (ledgerctl certs): %s" % " ".join(sorted(os.listdir(root + "/certs"))))
    admin = ["--admin_key=%s/admin.key" % root, "--genesis=" + chain.genesis, chain.nodes_flag()
             ] + as_admin
    try:
        step("devices: %d simulated devices, MAC mode, %d readings each, QoS 1"
             % (a.devices, a.count))
        rc, summary, err = t.device_sim(
            chain, broker, "--register", "--devices=%d" % a.devices, "--device_prefix=mac-dev",
            "--mode=mac", "--count=%d" % a.count, "--item=temp", "--qos=1", "--gateway_id=gw-1",
            *as_admin, *mqtt_as("devices"))
        print(json.dumps({k: summary[k] for k in summary if k != "records"}, indent=1))

        dev = "plant-0"
        step("device %s: its software (files the agent watches) and a runtime policy of their "
             "hashes, in Keylime's format, registered on the ledger and bound to it" % dev)
        fs = os.path.join(root, "device-fs")
        os.makedirs(fs, exist_ok=True)
        digests = {}
        for name, body in (("sensord", b"#!/bin/sh\necho reading\n"), ("sensord.conf", b"rate=1\n")):
            path = os.path.join(fs, name)
            with open(path, "wb") as f:
                f.write(body)
            digests[path] = [hashlib.sha256(body).hexdigest()]
        policy_path = os.path.join(root, "runtime-policy.json")
        with open(policy_path, "w") as f:
            json.dump({"meta": {"version": 1}, "digests": digests, "excludes": []}, f, indent=1)
        print(open(policy_path).read())
        keys = os.path.join(root, "devkeys")
        os.makedirs(keys, exist_ok=True)
        key = os.path.join(keys, dev + ".key")
        t.ctl("keygen", "--out=" + key)
        t.ctl("register-device", "--id=" + dev, "--key=" + key, *admin)
        t.ctl("policy", "import", "--name=plant-sw", "--file=" + policy_path, *admin)
        t.ctl("policy", "bind", "--name=plant-sw", "--device=" + dev, *admin)
        t.wait_for(lambda: "ev=policy_bindings devices=1" in open(chain.bridge_log).read(), 30,
                   "the bridge to load the policy binding")

        step("integrity agent on %s: measures the watched files and pushes a report; the "
             "bridge appraises it and records the attestation on the ledger" % dev)
        gw_pub = t.ctl_json("pubkey", "--key=%s/gw-1.key" % root)["pubkey"]
        rc, out, err = run([agent_bin, "--device=" + dev, "--key_file=" + key,
                              "--broker=" + broker.uri(), "--source=files", "--watch=" + fs,
                              "--state_dir=" + os.path.join(root, "agent-state"),
                              "--gateway_id=gw-1", "--gateway_pubkey=" + gw_pub,
                              "--once"] + mqtt_as("plant-0"), timeout=180)
        print("\n".join(l for l in err.splitlines() if "ev=report_" in l or "ev=session" in l))
        t.check(rc == 0 and "verdict=trusted" in err, "the agent's report was not appraised "
                "trusted (rc=%d):\n%s" % (rc, err[-2000:]))
        print(t.ctl("integrity", dev, chain.nodes_flag(), *as_reader)[1])

        step("device %s: %d signed readings, each recorded with its integrity status"
             % (dev, a.count))
        rc, last, err = t.device_sim(
            chain, broker, "--devices=1", "--device_prefix=plant", "--mode=sig",
            "--count=%d" % a.count, "--item=temp", "--qos=1", "--gateway_id=gw-1",
            "--list_records=3", *as_admin, *mqtt_as("plant-0"))
        print(json.dumps({k: last[k] for k in last if k != "records"}, indent=1))
        step("status of the ledger, and of each node (ops/cluster status)")
        print(t.ctl("status", chain.nodes_flag(), *as_reader)[1])
        cluster("status", dir=a.dir)

        rid = last["last_record"]
        step("prove record %s (a signed reading) with the genesis file alone" % rid)
        rc, out, err = t.ctl("prove", rid, "--genesis=" + chain.genesis, "--json",
                             chain.nodes_flag(), *as_reader)
        proof_path = os.path.join(root, "proof.json")
        with open(proof_path, "w") as f:
            f.write(out)
        proof = json.loads(out)
        print(json.dumps(proof, indent=1))
        rc, out, err = t.ctl("verify-proof", "--genesis=" + chain.genesis, "--proof=" + proof_path,
                             "--device_pubkey=" + key)
        print(err.strip())
        t.check(rc == 0, "proof verification failed")
        integrity = proof.get("decoded", {}).get("integrity_status")
        t.check(integrity == "trusted", "the reading's integrity is %s, not trusted" % integrity)
        ok = ("\nDEMO OK: reading %s from %s is final on chain 'demo' and proven, its device's "
              "software attested trusted (proof: %s)" % (rid[:16], dev, proof_path))
    finally:
        if not a.keep:
            cluster("down", dir=a.dir, quiet=True)
        else:
            print("processes left running; data in %s (ops/cluster --dir=%s status|down)"
                  % (root, a.dir))
    print(ok)  # the last line

if __name__ == "__main__":
    main()
