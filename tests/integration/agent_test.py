"""The real integrity agent end to end (issue 13, "Proof that it works"): a real Mosquitto, the
bridge appraising (docs/INTEGRITY.md) and a 4-validator PBFT ledger.

1. Setup: gw-1, device plant-0 (key in devkeys/, so device_sim publishes as it), a Keylime
   runtime policy allowing the IMA list's paths and hashes, imported and bound to plant-0.
2. A clean device attests trusted: `--once` exits 0 with verdict trusted; its report is QoS 1
   with the MAC-mode pl- headers and the section 7 shape; the state's index is the list's
   entry count; plant-0's next reading is committed, and `prove --json` shows integrity
   trusted with the attestation logged by the agent.
3. A changed watched binary (a kernel-format line with a hash the policy does not allow):
   the next, incremental report (`from` = previous count) is untrusted naming that path;
   with quarantine on plant-0's readings are refused `quarantined`; an allowed hash for the
   same path turns it trusted again and readings are committed with integrity trusted.
4. The daemon killed -9 right after its first report_sent: the next run resumes; every later
   verdict stays trusted (a gap would be untrusted), each seq is on the wire once, ascending,
   and no report's `from` skips past what was sent before.
5. Files mode (plant-1, its own policy, signature mode): trusted with pl-sig headers; the
   watched file's bytes changed -> untrusted naming the file.
6. A broker outage under the running daemon: after the broker returns, a new entry is
   appraised trusted; SIGTERM exits 0."""
import hashlib
import json
import os
import re
import signal
import struct
import subprocess
import time

import pltest as t

BOOT = "3c1e5b6a-9d8f-4e2a-b1c0-7f6e5d4c3b2a"
# Real kernel lines (ima-evm-utils' test list), so the template hashes verify.
LIST = (
    "10 cf41b43c4031672fcc2bd358b309ad33b977424f ima-ng sha256:f1b4c7c9b27e94569f4c2b64051c452bc609c3cb891dd7fae06b758f8bc83d14 boot_aggregate\n"
    "10 983dcd8e6f7c84a1a5f10e762d1850623966ceab ima-ng sha256:ae06e032a65fed8102aff5f8f31c678dcf2eb25b826f77ecb699faa0411f89e0 /init\n"
    "10 b6e4d01c73f6e4b698eaf48e7d76a2bae0c02514 ima-ng sha256:4b1764ee112aa8b2a6ae9a3a2f1e272b6601681f610708497673cd49e5bd2f5c /bin/sh\n"
)
H_SH = "4b1764ee112aa8b2a6ae9a3a2f1e272b6601681f610708497673cd49e5bd2f5c"
H_SH2 = hashlib.sha256(b"/bin/sh, next release").hexdigest()  # also allowed by the policy
H_EVIL = hashlib.sha256(b"/bin/sh, tampered").hexdigest()
DEV, DEV2 = "plant-0", "plant-1"


def template_hash(hexdigest, path):
    """The ima-ng template hash: SHA-1 over (u32 LE length, bytes) of d-ng then n-ng."""
    fields = [b"sha256:\0" + bytes.fromhex(hexdigest), path.encode() + b"\0"]
    return hashlib.sha1(b"".join(struct.pack("<I", len(f)) + f for f in fields)).hexdigest()


def ima_line(hexdigest, path):
    return "10 %s ima-ng sha256:%s %s\n" % (template_hash(hexdigest, path), hexdigest, path)


def agent_cmd(root, broker, gw_pub, device, state, extra):
    return [t.runfile("agent/integrity_agent"), "--device=" + device,
            "--key_file=%s/devkeys/%s.key" % (root, device), "--broker=" + broker.uri(),
            "--gateway_id=gw-1", "--gateway_pubkey=" + gw_pub,
            "--ima_list=%s/ima_list" % root, "--boot_id_path=%s/boot_id" % root,
            "--state_dir=" + state, "--answer_timeout_ms=20000", "--backoff_max_ms=1000",
            "--poll_ms=500", "--client_id=agent-" + device] + list(extra)


def run_once(root, broker, gw_pub, device, state, extra=()):
    p = subprocess.run(agent_cmd(root, broker, gw_pub, device, state,
                                 ["--once", "--once_timeout_ms=120000"] + list(extra)),
                       capture_output=True, text=True, timeout=240)
    return p.returncode, p.stderr + p.stdout


def events(text, ev):
    out = []
    for line in text.splitlines():
        if "ev=%s " % ev in line or line.endswith("ev=" + ev):
            out.append(dict(re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", line)))
    return out


def state_of(state):
    with open(os.path.join(state, "agent_state.json")) as f:
        return json.load(f)


def append(root, text):
    with open(os.path.join(root, "ima_list"), "a") as f:
        f.write(text)


class Capture:
    """mosquitto_sub on every device's integrity topic: topic, QoS, retain, user properties."""

    def __init__(self, root, broker):
        self.path = os.path.join(root, "captured.txt")
        self.proc = t.spawn(["mosquitto_sub", "-V", "mqttv5", "-p", str(broker.port),
                             "-h", "127.0.0.1", "-q", "1", "-t", "devices/+/integrity",
                             "-F", "%t %q %r [%P] %p"],
                            stdout=open(self.path, "w"), stderr=subprocess.STDOUT)
        time.sleep(1.0)

    def messages(self, device):
        out = []
        for line in open(self.path).read().splitlines():
            m = re.match(r"devices/(\S+)/integrity (\d) (\d) \[(.*)\] (\{.*\})$", line)
            if not m or m.group(1) != device:
                continue
            props = dict(kv.split(":", 1) for kv in m.group(4).split() if ":" in kv)
            out.append({"qos": int(m.group(2)), "retain": int(m.group(3)), "props": props,
                        "report": json.loads(m.group(5))})
        return out


def main():
    t.bridge_bins()
    root = t.tmpdir("agent")
    for (h, p) in [(l.split()[3][7:], l.split()[4]) for l in LIST.splitlines()]:
        t.check(ima_line(h, p) in LIST, "the template-hash helper reproduces %s" % p)

    # ---- 1. setup ------------------------------------------------------------------------
    chain = t.Chain(root, n=4)
    chain.start_all()
    t.wait_for(lambda: all(chain.status(i) for i in range(4)), 60, "4 validators answer")
    chain.register(devices=())
    admin = ["--admin_key=%s/admin.key" % root, "--genesis=" + chain.genesis, chain.nodes_flag()]
    os.makedirs(os.path.join(root, "devkeys"), exist_ok=True)
    for d in (DEV, DEV2):
        t.ctl("keygen", "--out=%s/devkeys/%s.key" % (root, d))
        t.ctl("register-device", "--id=" + d, "--key=%s/devkeys/%s.key" % (root, d), *admin)
    _, out, _ = t.ctl("pubkey", "--key=%s/gw-1.key" % root, "--json")
    gw_pub = json.loads(out)["pubkey"]
    broker = t.Mosquitto(root)
    bridge = t.BridgeProc(chain, broker)  # quarantine on (the default)
    bridge.start()
    digests = {}
    for l in LIST.splitlines():
        digests.setdefault(l.split()[4], []).append(l.split()[3][7:])
    digests["/bin/sh"].append(H_SH2)
    kfile = os.path.join(root, "keylime.json")
    with open(kfile, "w") as f:
        json.dump({"meta": {"version": 1}, "digests": digests, "excludes": ["/tmp/.*"]}, f)
    imp = t.ctl_json("policy", "import", "--name=plant", "--file=" + kfile, *admin)
    t.check(imp["version"] == 1 and imp["paths"] == 3, "policy imported: %s" % imp)
    t.ctl("policy", "bind", "--name=plant", "--device=" + DEV, *admin)
    t.wait_for(lambda: "ev=policy_bindings devices=1" in bridge.log(), 60,
               "the bridge loads the policy and its binding")
    time.sleep(0.5)
    with open(os.path.join(root, "ima_list"), "w") as f:
        f.write(LIST)
    with open(os.path.join(root, "boot_id"), "w") as f:
        f.write(BOOT + "\n")
    cap = Capture(root, broker)
    state = os.path.join(root, "state")

    def reading(expect_error=None):
        """plant-0 publishes one signed reading; returns its decoded record or the summary."""
        extra = ["--expect_error=" + expect_error] if expect_error else []
        _, s, _ = t.device_sim(chain, broker, "--device_prefix=plant", "--devices=1",
                               "--mode=sig", "--count=1", "--ack_timeout_ms=60000", *extra,
                               timeout=180)
        if expect_error:
            return s
        t.check(s["acked_recorded"] == 1 and s["last_record"], "reading committed: %s" % s)
        return t.ctl_json("prove", s["last_record"], "--genesis=" + chain.genesis,
                          chain.nodes_flag())["decoded"]

    def history(device):
        return t.ctl_json("integrity", device, chain.nodes_flag())["attestations"]

    # ---- 2. a clean device attests trusted ------------------------------------------------
    rc, text = run_once(root, broker, gw_pub, DEV, state)
    appraised = events(text, "report_appraised")
    t.check(rc == 0 and events(text, "session_agreed") and len(appraised) == 1 and
            appraised[0]["verdict"] == "trusted" and appraised[0]["failures"] == "0",
            "clean list: --once exits 0 with verdict trusted: rc=%d\n%s" % (rc, text[-3000:]))
    rec1 = appraised[0]["record"]
    t.check(state_of(state)["index"] == 3, "the position is the list's count: %s" % state_of(state))
    t.wait_for(lambda: cap.messages(DEV), 30, "the report on the broker")
    first = cap.messages(DEV)[0]
    t.check(first["qos"] == 1 and first["retain"] == 0, "QoS 1, retain 0: %s" % first)
    t.check(sorted(first["props"]) == ["pl-kid", "pl-mac", "pl-seq", "pl-ts"] and
            re.fullmatch(r"[0-9a-f]{16}", first["props"]["pl-kid"]) and
            re.fullmatch(r"[0-9a-f]{64}", first["props"]["pl-mac"]),
            "MAC-mode headers: %s" % first["props"])
    rep = first["report"]
    t.check(rep["v"] == 1 and rep["boot"] == BOOT and rep["from"] == 0 and
            [e["path"] for e in rep["entries"]] == ["boot_aggregate", "/init", "/bin/sh"] and
            rep["entries"][2] == {"pcr": 10, "template": "ima-ng", "hash": "sha256:" + H_SH,
                                  "path": "/bin/sh"}, "the section 7 report: %s" % rep)
    r = reading()
    t.check(r["integrity_status"] == "trusted" and r["attestation"] == rec1,
            "the reading carries trusted + the agent's attestation: %s" % r)
    t.log("clean: trusted, attestation %s in the next reading's proof" % rec1[:16])

    # ---- 3. a changed binary: untrusted, quarantined; an allowed hash lifts it ------------
    append(root, ima_line(H_EVIL, "/bin/sh"))
    rc, text = run_once(root, broker, gw_pub, DEV, state)
    appraised = events(text, "report_appraised")
    t.check(rc == 0 and appraised and appraised[-1]["verdict"] == "untrusted" and
            appraised[-1]["from"] == "3" and appraised[-1]["entries"] == "1",
            "changed /bin/sh: untrusted: rc=%d\n%s" % (rc, text[-3000:]))
    t.wait_for(lambda: len(cap.messages(DEV)) >= 2, 30, "the second report")
    t.check(cap.messages(DEV)[-1]["report"]["from"] == 3, "incremental: from 3: %s"
            % cap.messages(DEV)[-1]["report"])
    h = history(DEV)
    t.check(h[-1]["verdict"] == "untrusted" and h[-1]["record"] == appraised[-1]["record"] and
            h[-1]["failures"] == [{"path": "/bin/sh", "hash": "sha256:" + H_EVIL}],
            "the attestation names the failing path: %s" % h[-1])
    s = reading(expect_error="quarantined")
    t.check(s["errors"] == {"quarantined": 1} and s["acked_recorded"] == 0,
            "quarantine: plant-0's reading refused: %s" % s)
    append(root, ima_line(H_SH2, "/bin/sh"))
    rc, text = run_once(root, broker, gw_pub, DEV, state)
    appraised = events(text, "report_appraised")
    t.check(rc == 0 and appraised and appraised[-1]["verdict"] == "trusted" and
            appraised[-1]["from"] == "4", "allowed hash: trusted:\n%s" % text[-3000:])
    r = reading()
    t.check(r["integrity_status"] == "trusted" and r["attestation"] == appraised[-1]["record"],
            "quarantine lifted, readings trusted again: %s" % r)
    t.log("changed binary: untrusted naming /bin/sh, quarantined; allowed hash lifts it")

    # ---- 4. kill -9 mid-stream ------------------------------------------------------------
    n_hist, n_msgs = len(history(DEV)), len(cap.messages(DEV))
    append(root, ima_line(H_SH, "/bin/sh") + ima_line(H_SH2, "/bin/sh") +
           LIST.splitlines(True)[1])
    total = 8
    dlog = os.path.join(root, "agent-daemon.log")
    p = t.spawn(agent_cmd(root, broker, gw_pub, DEV, state, ["--batch=1"]),
                stdout=open(dlog, "w"), stderr=subprocess.STDOUT)
    t.wait_for(lambda: events(open(dlog).read(), "report_sent"), 60, "the daemon's first report")
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    t.check(state_of(state)["index"] < total, "killed mid-stream: %s" % state_of(state))
    rc, text = run_once(root, broker, gw_pub, DEV, state)
    t.check(rc == 0 and state_of(state)["index"] == total,
            "resumed to the end: rc=%d %s\n%s" % (rc, state_of(state), text[-3000:]))
    h = history(DEV)
    t.check(len(h) > n_hist and all(x["verdict"] == "trusted" for x in h[n_hist:]),
            "every verdict after the kill trusted (no gap): %s" % h[n_hist:])
    sent = len(events(open(dlog).read(), "report_sent")) + len(events(text, "report_sent"))
    t.wait_for(lambda: len(cap.messages(DEV)) >= n_msgs + sent, 30, "all reports on the broker")
    msgs = cap.messages(DEV)
    seqs = [int(m["props"]["pl-seq"]) for m in msgs]
    t.check(seqs == sorted(set(seqs)), "every seq on the wire once, ascending: %s" % seqs)
    end = 0
    for m in msgs:
        rep = m["report"]
        t.check(rep["from"] <= end, "no report skips past what was sent: from %d > %d"
                % (rep["from"], end))
        end = max(end, rep["from"] + len(rep["entries"]))
    t.check(end == total, "all %d entries on the wire: %d" % (total, end))
    t.log("kill -9: resumed, %d reports, seqs once and ascending, no gap" % len(msgs))

    # ---- 5. files mode, signature mode, plant-1 -------------------------------------------
    watched = os.path.join(root, "watched")
    os.makedirs(watched)
    tool = os.path.join(watched, "tool")
    with open(tool, "wb") as f:
        f.write(b"hello agent\n")
    pfile = os.path.join(root, "files-policy.json")
    with open(pfile, "w") as f:
        json.dump({"meta": {"version": 1},
                   "digests": {tool: [hashlib.sha256(b"hello agent\n").hexdigest()]},
                   "excludes": []}, f)
    t.ctl("policy", "import", "--name=files", "--file=" + pfile, *admin)
    t.ctl("policy", "bind", "--name=files", "--device=" + DEV2, *admin)
    t.wait_for(lambda: "ev=policy_bindings devices=2" in bridge.log(), 60, "plant-1's binding")
    time.sleep(0.5)
    fstate = os.path.join(root, "state-files")
    files = ["--source=files", "--watch=" + watched, "--auth=sig"]
    rc, text = run_once(root, broker, gw_pub, DEV2, fstate, files)
    appraised = events(text, "report_appraised")
    t.check(rc == 0 and appraised and appraised[-1]["verdict"] == "trusted",
            "files mode trusted: rc=%d\n%s" % (rc, text[-3000:]))
    t.wait_for(lambda: cap.messages(DEV2), 30, "plant-1's report")
    m = cap.messages(DEV2)[0]
    t.check(sorted(m["props"]) == ["pl-seq", "pl-sig", "pl-ts"] and
            re.fullmatch(r"[0-9a-f]{128}", m["props"]["pl-sig"]), "pl-sig headers: %s"
            % m["props"])
    t.check(m["report"]["entries"] == [{"pcr": 0, "template": "file", "path": tool, "hash":
            "sha256:" + hashlib.sha256(b"hello agent\n").hexdigest()}],
            "the file entry: %s" % m["report"])
    with open(tool, "wb") as f:
        f.write(b"hello tampered agent\n")
    rc, text = run_once(root, broker, gw_pub, DEV2, fstate, files)
    appraised = events(text, "report_appraised")
    t.check(rc == 0 and appraised and appraised[-1]["verdict"] == "untrusted",
            "changed file untrusted: rc=%d\n%s" % (rc, text[-3000:]))
    h = history(DEV2)
    t.check(h[-1]["verdict"] == "untrusted" and [x["path"] for x in h[-1]["failures"]] == [tool],
            "the failure names the file: %s" % h[-1])
    t.log("files: trusted with pl-sig; changed bytes -> untrusted naming the file")

    # ---- 6. a broker outage under the running daemon ---------------------------------------
    dlog2 = os.path.join(root, "agent-daemon2.log")
    p = t.spawn(agent_cmd(root, broker, gw_pub, DEV, state, []),
                stdout=open(dlog2, "w"), stderr=subprocess.STDOUT)
    log2 = lambda: open(dlog2).read()
    t.wait_for(lambda: "ev=agent_started" in log2(), 60, "the daemon started")
    time.sleep(2)
    broker.stop()
    time.sleep(3)
    t.check(p.poll() is None, "the agent survives the broker going away")
    broker.start()
    append(root, ima_line(H_SH2, "/bin/sh"))
    t.wait_for(lambda: any(e["verdict"] == "trusted" and e["from"] == str(total)
                           for e in events(log2(), "report_appraised")), 180,
               "the new entry appraised trusted after the broker returned")
    p.send_signal(signal.SIGTERM)
    t.check(p.wait(timeout=30) == 0, "SIGTERM: clean exit 0")
    t.check("ev=agent_stopping" in log2() and state_of(state)["index"] == total + 1,
            "stop logged, position at the end: %s" % state_of(state))
    t.log("outage: the daemon reconnected and its next entry was trusted; SIGTERM clean")

    # ---- 7. accounts (docs/ACCOUNTS.md): the agent accounts for the reports it sent --------
    append(root, ima_line(H_SH2, "/bin/sh"))
    rc, text = run_once(root, broker, gw_pub, DEV, state, ["--account_every=1"])
    sent = events(text, "account_sent")
    t.check(rc == 0 and len(sent) == 1 and sent[0]["count"] == "1",
            "--account_every=1: one account of the one report sent: rc=%d\n%s" %
            (rc, text[-3000:]))

    def audited():
        doc = json.loads(t.ctl("audit", DEV, "--json", chain.nodes_flag(), check_rc=False)[1])
        return doc if doc["accounts"] else None
    t.wait_for(audited, 60, "the agent's account on the ledger")
    doc = audited()
    t.check(doc["ok"] and doc["missing"] == [] and doc["accounts"][0]["chain"] == "matches" and
            doc["accounts"][0]["gateway"] == "gw-1",
            "ledgerctl audit: the report accounted for is on the ledger, chain matches: %s" % doc)
    t.log("accounts: the agent's account recorded, audit finds nothing missing")

    bridge.kill(signal.SIGTERM)
    chain.stop_all()
    t.check_sanitizer_logs(root)
    t.log("PASS")


if __name__ == "__main__":
    main()
