"""The device key in a PKCS#11 token (SoftHSM2) end to end: a real Mosquitto, a 1-validator
ledger, a real bridge and device_sim signing with a key made by `ledgerctl keygen
--pkcs11_*` inside the token.

Shows: the private key is made in the token and cannot be read out; signed readings are
committed and their record's device signature verifies with the token's public key (prove
and verify), and not with another key; a key request signed by the token agrees a session
and MACed readings under it are committed; a wrong PIN is refused with a clear message that
does not show the PIN."""
import json
import os
import shutil
import subprocess

import pltest as t

MODULES = ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"]
TOKEN, PIN, SO_PIN, LABEL = "pl-devices", "482913", "90817263", "tok-0-key"
PAYLOAD = '{"temp":21.5,"unit":"C"}'


def main():
    module = next((m for m in MODULES if os.path.exists(m)), None)
    util = shutil.which("softhsm2-util") or "/usr/bin/softhsm2-util"
    if module is None or not os.path.exists(util):
        t.fail("softhsm2 is not installed (apt-get install softhsm2; ops/install_deps.sh)")
    t.bridge_bins()
    root = t.tmpdir("token")

    # A token in this test's folder only: SOFTHSM2_CONF reaches every process started below.
    os.makedirs(root + "/tokens")
    with open(root + "/softhsm2.conf", "w") as f:
        f.write("directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
                "log.level = ERROR\n" % root)
    os.environ["SOFTHSM2_CONF"] = root + "/softhsm2.conf"
    subprocess.run([util, "--init-token", "--free", "--label", TOKEN, "--pin", PIN,
                    "--so-pin", SO_PIN], check=True, capture_output=True)
    pin_file = root + "/pin"
    with open(os.open(pin_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(PIN + "\n")
    token = ["--pkcs11_module=" + module, "--pkcs11_token=" + TOKEN,
             "--pkcs11_key_label=" + LABEL, "--pkcs11_pin_file=" + pin_file]

    # 1. The key pair is made inside the token; the private key cannot be read out.
    made = t.ctl_json("keygen", *token)
    pubkey = made["pubkey"]
    t.check(len(pubkey) == 66 and pubkey[:2] in ("02", "03"), "token key made: %s" % made)
    t.check(t.ctl("pubkey", *token)[1].strip() == pubkey, "pubkey reads the same key back")
    rc, _, err = t.ctl("keygen", *token, check_rc=False)
    t.check(rc != 0 and "already has a key" in err, "keygen refuses a taken label: " + err)
    tool = shutil.which("pkcs11-tool")
    if tool:
        # OpenSC's view of the object (CKA_VALUE refused is checked by pkcs11_signer_test).
        p = subprocess.run([tool, "--module", module, "--token-label", TOKEN, "--login",
                            "--pin", PIN, "--list-objects", "--type", "privkey"],
                           capture_output=True, text=True)
        access = [l for l in p.stdout.splitlines() if "Access:" in l]
        t.check(p.returncode == 0 and len(access) == 1 and "never extractable" in access[0]
                and "always sensitive" in access[0], "private key sealed: %s" % p.stdout)
    t.log("key made in the token, not extractable: " + pubkey)

    chain = t.Chain(root, n=1)
    chain.start(0)
    chain.register(devices=())
    broker = t.Mosquitto(root)
    bridge = t.BridgeProc(chain, broker)
    bridge.start()
    sim = lambda *a, **k: t.device_sim(chain, broker, "--devices=1", "--device_prefix=tok",
                                       *a, **k)

    # 2. Signature mode: every reading signed in the token, committed, provable with the
    # token's public key (registered from the token by --register).
    rc, s, err = sim("--register", "--mode=sig", "--count=12", "--seq_start=1000",
                     "--payload=" + PAYLOAD, *token)
    t.check(s["acked_recorded"] == 12 and not s["errors"] and s["unanswered"] == 0,
            "token-signed readings committed: %s" % s)
    t.check(not os.path.exists(root + "/devkeys/tok-0.key"), "no key file was made")
    rc, out, err = t.ctl("prove", s["last_record"], "--genesis=" + chain.genesis,
                         "--device_pubkey=" + pubkey, chain.nodes_flag(), check_rc=False)
    t.check(rc == 0 and "device signature verifies" in err,
            "prove checks the token's signature: " + err)
    other = t.ctl_json("keygen", "--out=%s/other.key" % root)["pubkey"]
    rc, out, err = t.ctl("prove", s["last_record"], "--genesis=" + chain.genesis,
                         "--device_pubkey=" + other, chain.nodes_flag(), check_rc=False)
    t.check(rc == 3, "another key does not verify the record (rc %d): %s" % (rc, err))
    with open(root + "/payload", "w") as f:
        f.write(PAYLOAD)
    rc, out, err = t.ctl("verify", "--payload=%s/payload" % root, "--device=tok-0",
                         "--seq=1011", "--genesis=" + chain.genesis, "--device_pubkey=" + pubkey,
                         chain.nodes_flag(), check_rc=False)
    t.check(rc == 0 and "device signature verifies" in (out + err),
            "verify of a signed reading checks the device signature: " + out + err)
    t.log("signed readings committed; device signature verified with the token key")

    # 3. MAC mode: the key request is signed in the token; the session it agrees MACs
    # readings the bridge accepts (the gateway's reply checked against the ledger's key).
    rc, s, err = sim("--register", "--mode=mac", "--gateway_id=gw-1", "--count=12", *token)
    t.check(s["acked_recorded"] == 12 and not s["errors"] and s["unanswered"] == 0,
            "MACed readings under a token-signed session committed: %s" % s)
    t.log("token-signed key request agreed a session; MACed readings committed")

    # 4. A wrong PIN: refused before anything is sent, with a clear message, PIN not shown.
    bad = root + "/bad-pin"
    with open(os.open(bad, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write("111111\n")
    rc, s, err = sim("--mode=sig", "--count=1", *(token[:3] + ["--pkcs11_pin_file=" + bad]),
                     check_rc=False)
    t.check(rc == 3 and "wrong PIN" in err and "111111" not in err,
            "wrong PIN refused clearly (rc %d): %s" % (rc, err))
    t.log("wrong PIN refused")

    bridge.kill()
    chain.stop_all()
    broker.stop()
    t.check_sanitizer_logs(root)
    print("token_test: OK")


if __name__ == "__main__":
    main()
