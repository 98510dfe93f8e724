"""The integrity agent daemon serving firmware updates (PROTOCOL.md section 8, docs/AGENT.md
"Firmware updates"), and signing with a device key kept in a PKCS#11 token (docs/TOKENS.md):
a real Mosquitto, a real 1-validator ledger, a real bridge.

Shows: a manifest recorded with `ledgerctl firmware publish` reaches the running agent
(retained on update/code, published by the bridge); the agent checks it, runs its install
command on the checked image, and its install report (MAC under the agent's session, the
device's one seq sequence) is acknowledged and recorded: `ledgerctl firmware status` shows
the new version. A rollback manifest (signed by the vendor, refused by the ledger, then
pushed retained onto update/code by hand) is refused by the agent, nothing installed, and
its refusal reported and recorded. Then a run in --auth=sig with the key in a SoftHSM2 token:
its report reaches the bridge and is answered (never bad_auth); a key file together with
the token flags is a usage error.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess

import pltest as t

MODULES = ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"]
BOOT = "5a0c9e1b-2d3f-4a5b-8c6d-7e8f9a0b1c2d"


def events(text, ev):
    out = []
    for line in text.splitlines():
        if "ev=%s " % ev in line or line.endswith("ev=" + ev):
            out.append(dict(re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", line)))
    return out


def firmware_part(root, chain, broker, gw_pub):
    admin = ["--admin_key=%s/admin.key" % root, "--genesis=" + chain.genesis, chain.nodes_flag()]
    t.ctl("keygen", "--out=%s/acme.key" % root)
    t.ctl("register-vendor", "--id=acme", "--key=%s/acme.key" % root, *admin)
    acme_pub = t.ctl_json("pubkey", "--key=%s/acme.key" % root)["pubkey"]
    t.ctl("keygen", "--out=%s/dev-1.key" % root)
    t.ctl("register-device", "--id=dev-1", "--key=%s/dev-1.key" % root, "--vendor=acme",
          "--model=sensor-1", *admin)

    image = os.path.join(root, "sensor-1-1.2.0.bin")
    with open(image, "wb") as f:
        f.write(os.urandom(200000))
    marker = os.path.join(root, "installed.bin")
    script = os.path.join(root, "install.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\ncp \"$1\" '%s'\n" % marker)
    os.chmod(script, 0o700)
    watched = os.path.join(root, "watched")
    os.makedirs(watched)
    with open(os.path.join(watched, "tool"), "w") as f:
        f.write("hello agent\n")
    # The device's software is attested trusted first: with quarantine on (the default) an
    # untrusted device's install reports would be refused `quarantined`.
    policy = os.path.join(root, "policy.json")
    with open(policy, "w") as f:
        json.dump({"meta": {"version": 1}, "excludes": [], "digests": {
            os.path.join(watched, "tool"): [hashlib.sha256(b"hello agent\n").hexdigest()]}}, f)
    t.ctl("policy", "import", "--name=sensor-sw", "--file=" + policy, *admin)
    t.ctl("policy", "bind", "--name=sensor-sw", "--model=sensor-1", *admin)
    bridge_log = os.path.join(root, "bridge-b0.log")
    t.wait_for(lambda: "ev=policy_bindings devices=0 models=1" in open(bridge_log).read(), 30,
               "the bridge loads the policy binding")

    logpath = os.path.join(root, "agent.log")
    cmd = [t.runfile("agent/integrity_agent"), "--device=dev-1",
           "--key_file=%s/dev-1.key" % root, "--broker=" + broker.uri(),
           "--gateway_id=gw-1", "--gateway_pubkey=" + gw_pub, "--source=files",
           "--watch=" + watched, "--boot_id_path=%s/boot_id" % root,
           "--state_dir=%s/state" % root, "--answer_timeout_ms=5000", "--backoff_max_ms=2000",
           "--model=sensor-1", "--vendor_key=acme:" + acme_pub, "--install_command=" + script]
    agent = t.spawn(cmd, stdout=open(logpath, "w"), stderr=subprocess.STDOUT)
    log = lambda: open(logpath).read()
    t.wait_for(lambda: events(log(), "agent_started"), 60, "the agent to start:\n" + log())
    t.check(events(log(), "agent_started")[0].get("firmware") == "on",
            "--install_command turns firmware on")

    def sign(counter, version):
        out = os.path.join(root, "m-%s.json" % version)
        t.ctl("firmware", "sign", "--vendor=acme", "--vendor_key=%s/acme.key" % root,
              "--model=sensor-1", "--fw_version=" + version, "--counter=%d" % counter,
              "--image=" + image, "--location=file://" + image, "--out=" + out)
        return out

    # 1. A good manifest: recorded, published retained by the bridge, installed by the agent.
    good = sign(2, "1.2.0")
    pub = t.ctl_json("firmware", "publish", "--manifest=" + good, chain.nodes_flag())
    t.check(pub["height"] > 0, "manifest recorded: %s" % pub)
    acked = lambda: events(log(), "install_report_acknowledged")
    t.wait_for(lambda: len(acked()) >= 1, 120, "the install report acknowledged:\n" + log()[-4000:])
    t.check(open(marker, "rb").read() == open(image, "rb").read(),
            "the install command got the checked image")
    outcome = events(log(), "firmware_outcome")
    t.check(len(outcome) == 1 and outcome[0]["result"] == "installed",
            "one outcome, installed: %s" % outcome)

    def running(version):
        st = t.ctl_json("firmware", "status", "--device=dev-1", chain.nodes_flag())
        r = st["devices"][0]["running"]
        return r and r["version"] == version and r["result"] == "installed"
    t.wait_for(lambda: running("1.2.0"), 60, "firmware status to show dev-1 at 1.2.0")
    t.log("good manifest installed by the daemon; status recorded on the ledger")

    # 2. A rollback: the vendor signed it, the ledger refuses it; pushed onto update/code by
    # hand (as a replaying attacker could), the agent refuses it and reports the refusal.
    os.remove(marker)
    rollback = sign(1, "1.1.0")
    rc, _, err = t.ctl("firmware", "publish", "--manifest=" + rollback, chain.nodes_flag(),
                       check_rc=False)
    t.check(rc != 0, "the ledger refuses the rollback: " + err)
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", "5",
                    "-q", "1", "-r", "-t", "devices/dev-1/update/code", "-f", rollback],
                   check=True, timeout=30)
    t.wait_for(lambda: len(acked()) >= 2, 120, "the refusal acknowledged:\n" + log()[-4000:])
    outcome = events(log(), "firmware_outcome")
    t.check(len(outcome) == 2 and outcome[1]["result"] == "refused" and
            "rollback" in outcome[1]["reason"], "the rollback refused: %s" % outcome)
    t.check(not os.path.exists(marker), "nothing installed for the rollback")

    def refusal_recorded():
        st = t.ctl_json("firmware", "status", "--device=dev-1", chain.nodes_flag())
        d = st["devices"][0]
        return d["latest_refusal"] and d["latest_refusal"]["result"] == "refused" and \
            d["running"]["version"] == "1.2.0"
    t.wait_for(refusal_recorded, 60, "firmware status to show the refusal, still at 1.2.0")
    sent = [int(e["seq"]) for e in events(log(), "install_report_sent")]
    t.check(sent == sorted(set(sent)), "install reports under new, rising seqs: %s" % sent)
    agent.send_signal(signal.SIGTERM)
    t.check(agent.wait(timeout=30) == 0, "SIGTERM: clean exit 0\n" + log()[-2000:])
    st = json.load(open(os.path.join(root, "state", "firmware_state.json")))
    t.check(st.get("counter") == 2, "firmware state in --state_dir: %s" % st)
    t.log("rollback refused by the daemon, refusal recorded")


def token_part(root, chain, broker, gw_pub):
    module = next((m for m in MODULES if os.path.exists(m)), None)
    util = shutil.which("softhsm2-util") or "/usr/bin/softhsm2-util"
    if module is None or not os.path.exists(util):
        print("SKIP token part: softhsm2 is not installed (apt-get install softhsm2)")
        return
    os.makedirs(root + "/tokens")
    with open(root + "/softhsm2.conf", "w") as f:
        f.write("directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
                "log.level = ERROR\n" % root)
    os.environ["SOFTHSM2_CONF"] = root + "/softhsm2.conf"
    subprocess.run([util, "--init-token", "--free", "--label", "pl-agent", "--pin", "246810",
                    "--so-pin", "13579111"], check=True, capture_output=True)
    pin_file = root + "/pin"
    with open(os.open(pin_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write("246810\n")
    token = ["--pkcs11_module=" + module, "--pkcs11_token=pl-agent",
             "--pkcs11_key_label=dev-2-key", "--pkcs11_pin_file=" + pin_file]
    pubkey = t.ctl_json("keygen", *token)["pubkey"]
    t.ctl("register-device", "--id=dev-2", "--pubkey=" + pubkey,
          "--admin_key=%s/admin.key" % root, "--genesis=" + chain.genesis, chain.nodes_flag())
    watched = os.path.join(root, "watched2")
    os.makedirs(watched)
    with open(os.path.join(watched, "tool"), "w") as f:
        f.write("token agent\n")
    base = [t.runfile("agent/integrity_agent"), "--device=dev-2", "--broker=" + broker.uri(),
            "--auth=sig", "--source=files", "--watch=" + watched,
            "--boot_id_path=%s/boot_id" % root, "--state_dir=%s/state2" % root,
            "--answer_timeout_ms=3000", "--backoff_max_ms=400", "--once",
            "--once_timeout_ms=8000"] + token
    p = subprocess.run(base + ["--key_file=%s/dev-1.key" % root], capture_output=True,
                       text=True, timeout=60)
    t.check(p.returncode == 2 and "give one" in p.stderr,
            "--key_file with --pkcs11_* is a usage error: rc=%d %s" % (p.returncode, p.stderr))
    p = subprocess.run(base, capture_output=True, text=True, timeout=120)
    text = p.stdout + p.stderr
    t.check("246810" not in text, "the PIN never logged")
    sent = events(text, "report_sent")
    answered = events(text, "report_appraised") + [
        r for r in events(text, "report_refused") if r.get("code") == "internal"]
    t.check(p.returncode in (0, 1), "rc 0 (appraised) or 1 (--once gave up on internal): "
            "rc=%d\n%s" % (p.returncode, text[-3000:]))
    t.check(sent and answered, "the bridge verified and answered the token-signed report "
            "(verdict, or internal while appraisal is off):\n" + text[-3000:])
    t.check("bad_auth" not in text, "the token's signature verifies at the bridge:\n" + text[-3000:])
    t.log("token-signed (pl-sig) report answered by the bridge")


def main():
    t.bridge_bins()
    root = t.tmpdir("agent_firmware")
    chain = t.Chain(root, n=1)
    chain.start(0)
    chain.register(devices=())
    gw_pub = t.ctl_json("pubkey", "--key=%s/gw-1.key" % root)["pubkey"]
    with open(os.path.join(root, "boot_id"), "w") as f:
        f.write(BOOT + "\n")
    broker = t.Mosquitto(root)
    bridge = t.BridgeProc(chain, broker)
    bridge.start()
    firmware_part(root, chain, broker, gw_pub)
    token_part(root, chain, broker, gw_pub)
    bridge.kill()
    chain.stop_all()
    t.check_sanitizer_logs(root)
    print("agent_firmware_test: OK")


if __name__ == "__main__":
    main()
