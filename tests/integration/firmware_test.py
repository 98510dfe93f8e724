"""Issue 13, firmware provenance end to end (docs/FIRMWARE.md, PROTOCOL.md section 8): a
real Mosquitto, a real 4-validator PBFT ledger, a real bridge.

A vendor and a device of its model are registered; `ledgerctl firmware sign` + `publish`
record a manifest (kind 3) and the bridge publishes it retained on the device's update/code
(and on that of a device registered afterwards). The node refuses to record a badly signed
manifest and a rollback. `firmware_apply` (the agent's checks) installs the manifest the
device received, refuses a rollback and a badly signed one, and publishes each install
report on update/status; the bridge records them (item _update), `ledgerctl firmware status`
shows the device running the new version, and its install report proves.
"""
import json
import os
import subprocess

import pltest as t


def sub_one(broker, topic, timeout=60):
    """The retained message on `topic` (mosquitto_sub, MQTT v5), or fails."""
    p = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", "5",
                        "-q", "1", "-t", topic, "-C", "1", "-W", str(timeout)],
                       capture_output=True, text=True, timeout=timeout + 10)
    t.check(p.returncode == 0 and p.stdout.strip(),
            "no message on %s: rc=%d %s" % (topic, p.returncode, p.stderr))
    return p.stdout.strip()


def main():
    t.bridge_bins()
    apply_bin = t.runfile("agent/firmware_apply")
    root = t.tmpdir("firmware")
    chain = t.Chain(root, n=4)
    for i in range(4):
        chain.start(i)
    chain.register(devices=())
    admin = ["--admin_key=%s/admin.key" % root, "--genesis=" + chain.genesis, chain.nodes_flag()]

    # ---- Vendor and device on the ledger ---------------------------------------------------
    t.ctl("keygen", "--out=%s/acme.key" % root)
    t.ctl("keygen", "--out=%s/rogue.key" % root)  # not acme's: signs the bad manifests
    t.ctl("register-vendor", "--id=acme", "--key=%s/acme.key" % root, *admin)
    acme_pub = t.ctl_json("pubkey", "--key=%s/acme.key" % root)["pubkey"]
    t.ctl("keygen", "--out=%s/dev-1.key" % root)
    t.ctl("register-device", "--id=dev-1", "--key=%s/dev-1.key" % root, "--vendor=acme",
          "--model=sensor-1", *admin)

    broker = t.Mosquitto(root)
    bridge = t.BridgeProc(chain, broker)
    bridge.start()

    # A validator down while the manifest is recorded learns it by state transfer, and its
    # manifest index with it.
    chain.kill(3)

    # ---- Sign and publish ------------------------------------------------------------------
    image = os.path.join(root, "sensor-1-1.2.0.bin")
    with open(image, "wb") as f:
        f.write(os.urandom(300000))  # a few chunks of the streamed check

    def sign(counter, version, key="acme", out=None):
        out = out or os.path.join(root, "m-%s-%d-%s.json" % (version, counter, key))
        t.ctl("firmware", "sign", "--vendor=acme", "--vendor_key=%s/%s.key" % (root, key),
              "--model=sensor-1", "--fw_version=" + version, "--counter=%d" % counter,
              "--image=" + image, "--location=file://" + image, "--out=" + out)
        return out

    good = sign(2, "1.2.0")
    m = json.load(open(good))
    t.check(m["size"] == 300000 and m["counter"] == 2 and m["vendor"] == "acme",
            "manifest fields: %s" % m)
    pub = t.ctl_json("firmware", "publish", "--manifest=" + good, chain.nodes_flag())
    t.check(pub["height"] > 0 and len(pub["record_id"]) == 64, "publish answer: %s" % pub)
    t.log("manifest recorded at height", pub["height"])
    again = t.ctl_json("firmware", "publish", "--manifest=" + good, chain.nodes_flag())
    t.check(again["duplicate"] and again["record_id"] == pub["record_id"],
            "publishing twice is answered as a duplicate: %s" % again)

    # The node refuses a manifest the registered vendor key did not sign, and a rollback.
    rogue = sign(3, "1.3.0", key="rogue")
    rc, out, err = t.ctl("firmware", "publish", "--manifest=" + rogue, chain.nodes_flag(),
                         check_rc=False)
    t.check(rc != 0 and "UNAUTHENTICATED" in err and "signature" in err,
            "badly signed manifest refused by the node: rc=%d %s" % (rc, err))
    rollback = sign(1, "1.1.0")
    rc, out, err = t.ctl("firmware", "publish", "--manifest=" + rollback, chain.nodes_flag(),
                         check_rc=False)
    t.check(rc != 0 and "FAILED_PRECONDITION" in err and "counter" in err,
            "rollback manifest refused by the node: rc=%d %s" % (rc, err))
    listing = t.ctl_json("firmware", "list", "--vendor=acme", chain.nodes_flag())
    t.check([x["counter"] for x in listing["manifests"]] == [2],
            "only the good manifest is recorded: %s" % listing)
    rc, out, err = t.ctl("prove", pub["record_id"], "--genesis=" + chain.genesis,
                         chain.nodes_flag(), check_rc=False)
    t.check(rc == 0, "the manifest record proves: rc=%d %s %s" % (rc, out, err))
    chain.start(3)

    def v3_lists_it():
        l = t.ctl_json("firmware", "list", "--node=" + chain.addr(3), "--timeout_ms=5000")
        return [x["record_id"] for x in l["manifests"]] == [pub["record_id"]]
    t.wait_for(v3_lists_it, 120, "v3, restarted, to list the manifest it missed")

    # ---- The bridge publishes it retained on update/code ------------------------------------
    got = sub_one(broker, "devices/dev-1/update/code")
    t.check(json.loads(got) == m, "retained manifest is the recorded one:\n%s\n%s" % (got, m))
    received = os.path.join(root, "received.json")
    with open(received, "w") as f:
        f.write(got)
    # A device of that vendor and model registered afterwards gets it too.
    t.ctl("keygen", "--out=%s/dev-2.key" % root)
    t.ctl("register-device", "--id=dev-2", "--key=%s/dev-2.key" % root, "--vendor=acme",
          "--model=sensor-1", *admin)
    t.check(json.loads(sub_one(broker, "devices/dev-2/update/code")) == m,
            "a device registered later gets the manifest")

    # ---- The device's checks, install and reports ------------------------------------------
    marker = os.path.join(root, "installed.bin")
    script = os.path.join(root, "install.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\ncp \"$1\" '%s'\n" % marker)
    os.chmod(script, 0o700)

    def apply(manifest):
        p = subprocess.run(
            [apply_bin, "--manifest=" + manifest, "--vendor_key=acme:" + acme_pub,
             "--device=dev-1", "--model=sensor-1", "--state_dir=%s/dev-1-state" % root,
             "--install_command=" + script, "--report", "--device_key=%s/dev-1.key" % root,
             "--broker=" + broker.uri(), "--answer_timeout_ms=60000"],
            capture_output=True, text=True, timeout=120)
        lines = p.stdout.strip().splitlines()
        t.log("firmware_apply rc=%d %s" % (p.returncode, lines))
        t.check(len(lines) == 2, "report and answer printed: %s %s" % (p.stdout, p.stderr))
        t.check("/update/status/success " in lines[1],
                "install report acknowledged: %s %s" % (lines[1], p.stderr))
        return p.returncode, json.loads(lines[0]), json.loads(lines[1].split(" ", 1)[1])

    rc, report, ack = apply(received)
    t.check(rc == 0 and report["result"] == "installed" and report["counter"] == 2,
            "good manifest installed: rc=%d %s" % (rc, report))
    t.check(open(marker, "rb").read() == open(image, "rb").read(),
            "the install command got the checked image")
    installed_record = ack["record"]
    os.remove(marker)

    rc, report, _ = apply(rollback)
    t.check(rc == 1 and report["result"] == "refused" and "rollback" in report["reason"],
            "rollback refused by the device: rc=%d %s" % (rc, report))
    rc, report, _ = apply(rogue)
    t.check(rc == 1 and report["result"] == "refused" and "signature" in report["reason"],
            "badly signed manifest refused by the device: rc=%d %s" % (rc, report))
    t.check(not os.path.exists(marker), "nothing refused was installed")
    # The retained manifest comes again: nothing is reported twice.
    p = subprocess.run(
        [apply_bin, "--manifest=" + received, "--vendor_key=acme:" + acme_pub, "--device=dev-1",
         "--model=sensor-1", "--state_dir=%s/dev-1-state" % root, "--install_command=" + script],
        capture_output=True, text=True, timeout=60)
    t.check(p.returncode == 3 and p.stdout == "", "redelivery handled once: rc=%d" % p.returncode)

    # ---- On the ledger: which device runs which version, provably ---------------------------
    st = t.ctl_json("firmware", "status", "--device=dev-1", chain.nodes_flag())
    dev = st["devices"][0]
    t.check(dev["running"] and dev["running"]["version"] == "1.2.0" and
            dev["running"]["counter"] == 2 and dev["running"]["result"] == "installed",
            "status shows dev-1 at 1.2.0: %s" % st)
    t.check(dev["running"]["record_id"] == installed_record,
            "status names the acknowledged record: %s vs %s" % (dev, installed_record))
    t.check(dev["latest_refusal"] and dev["latest_refusal"]["result"] == "refused",
            "the later refusals are shown: %s" % dev)
    _, text, _ = t.ctl("firmware", "status", chain.nodes_flag())
    t.check("dev-1: runs acme/sensor-1 1.2.0 (counter 2) installed" in text and
            "dev-2: no install recorded" in text, "status text:\n" + text)
    rc, out, err = t.ctl("prove", installed_record, "--genesis=" + chain.genesis,
                         chain.nodes_flag(), check_rc=False)
    t.check(rc == 0, "the install report proves: rc=%d %s %s" % (rc, out, err))
    t.log("install report proven:", installed_record[:16])

    bridge.kill()
    chain.stop_all()
    t.check_sanitizer_logs(root)
    print("firmware_test: OK")


if __name__ == "__main__":
    main()
