"""The integrity agent against a real Mosquitto, a real 1-validator ledger and a real bridge.

The bridge on main does not appraise integrity reports yet: it answers each one `internal`.
Shows: the agent agrees a session with the bridge (key reply signed by the registered
gateway key), publishes its report QoS 1 with the pl- headers of PROTOCOL.md section 5
(MAC mode and signature mode), treats `internal` as transient (sends again, each time with
a new, strictly increasing pl-seq), and never moves its position without a verdict: after
--once gives up, and after a kill -9 mid-stream, the next run sends the same entries again
from the same index, under seqs above every one used before."""
import json
import os
import re
import signal
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


def agent_cmd(root, broker, gw_pub, state, extra):
    return [t.runfile("agent/integrity_agent"), "--device=dev-1",
            "--key_file=%s/dev-1.key" % root, "--broker=" + broker.uri(),
            "--gateway_id=gw-1", "--gateway_pubkey=" + gw_pub,
            "--ima_list=%s/ima_list" % root, "--boot_id_path=%s/boot_id" % root,
            "--state_dir=" + state, "--answer_timeout_ms=3000", "--backoff_max_ms=400",
            "--client_id=agent-under-test"] + extra


def run_once(root, broker, gw_pub, state, extra=(), timeout_ms=10000):
    p = subprocess.run(agent_cmd(root, broker, gw_pub, state,
                                 ["--once", "--once_timeout_ms=%d" % timeout_ms] + list(extra)),
                       capture_output=True, text=True, timeout=120)
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


class Capture:
    """mosquitto_sub on the integrity topic: each message's QoS, retain, user properties."""

    def __init__(self, root, broker):
        self.path = os.path.join(root, "captured.txt")
        self.proc = t.spawn(["mosquitto_sub", "-V", "mqttv5", "-p", str(broker.port),
                             "-h", "127.0.0.1", "-q", "1", "-t", "devices/dev-1/integrity",
                             "-F", "%q %r [%P] %p"],
                            stdout=open(self.path, "w"), stderr=subprocess.STDOUT)
        time.sleep(1.0)

    def messages(self):
        out = []
        for line in open(self.path).read().splitlines():
            m = re.match(r"(\d) (\d) \[(.*)\] (\{.*\})$", line)
            if not m:
                continue
            props = dict(kv.split(":", 1) for kv in m.group(3).split() if ":" in kv)
            out.append({"qos": int(m.group(1)), "retain": int(m.group(2)), "props": props,
                        "report": json.loads(m.group(4))})
        return out


def main():
    t.bridge_bins()
    root = t.tmpdir("agent")
    chain = t.Chain(root, n=1)
    chain.start(0)
    chain.register(devices=("dev-1",))
    _, out, _ = t.ctl("pubkey", "--key=%s/gw-1.key" % root, "--json")
    gw_pub = json.loads(out)["pubkey"]
    broker = t.Mosquitto(root)
    bridge = t.BridgeProc(chain, broker)
    bridge.start()
    with open(os.path.join(root, "ima_list"), "w") as f:
        f.write(LIST)
    with open(os.path.join(root, "boot_id"), "w") as f:
        f.write(BOOT + "\n")
    cap = Capture(root, broker)
    state = os.path.join(root, "state")

    # 1. MAC mode: a session, a report with the section 5 headers, `internal` retried.
    rc, text = run_once(root, broker, gw_pub, state)
    t.check(rc == 1, "--once gives up (exit 1) while the bridge answers internal: rc=%d\n%s"
            % (rc, text[-3000:]))
    t.check(events(text, "session_agreed"), "a session agreed with the bridge:\n" + text[-3000:])
    refused = events(text, "report_refused")
    t.check(len(refused) >= 2 and all(r["code"] == "internal" for r in refused),
            "internal answered and treated as transient (sent again): %s" % refused)
    sent = [int(e["seq"]) for e in events(text, "report_sent")]
    t.check(len(sent) >= 2 and sent == sorted(set(sent)), "a new, higher seq per send: %s" % sent)
    s = state_of(state)
    t.check(s["index"] == 0 and s["offset"] == 0 and s["boot"] == "",
            "no verdict, so the position did not move: %s" % s)
    t.check(s["next_seq"] == sent[-1] + 1, "the last seq used is durable: %s %s" % (s, sent))
    t.wait_for(lambda: len(cap.messages()) >= len(sent), 20, "the reports on the broker")
    msgs = cap.messages()
    first = msgs[0]
    t.check(first["qos"] == 1 and first["retain"] == 0, "QoS 1, retain 0: %s" % first)
    t.check(sorted(first["props"]) == ["pl-kid", "pl-mac", "pl-seq", "pl-ts"],
            "MAC-mode headers: %s" % first["props"])
    t.check(re.fullmatch(r"[0-9a-f]{16}", first["props"]["pl-kid"]) and
            re.fullmatch(r"[0-9a-f]{64}", first["props"]["pl-mac"]), "kid and mac hex: %s"
            % first["props"])
    t.check([int(m["props"]["pl-seq"]) for m in msgs] == sent, "published seqs = logged seqs")
    rep = first["report"]
    t.check(rep["v"] == 1 and rep["boot"] == BOOT and rep["from"] == 0 and
            [e["path"] for e in rep["entries"]] == ["boot_aggregate", "/init", "/bin/sh"] and
            rep["entries"][1]["hash"] == "sha256:ae06e032a65fed8102aff5f8f31c678dcf2eb25b826f77ecb699faa0411f89e0"
            and rep["entries"][1]["pcr"] == 10 and rep["entries"][1]["template"] == "ima-ng",
            "the section 7 report: %s" % rep)
    t.log("mac: session agreed, headers right, internal retried, position kept")

    # 2. Signature mode resumes from the same position, seqs above all used before.
    rc, text = run_once(root, broker, gw_pub, state, ["--auth=sig"], timeout_ms=5000)
    t.check(rc == 1 and not events(text, "session_agreed"), "sig mode needs no session")
    sent2 = [int(e["seq"]) for e in events(text, "report_sent")]
    t.check(sent2 and sent2[0] > sent[-1], "seqs continue above the last run's: %s" % sent2)
    t.wait_for(lambda: len(cap.messages()) >= len(sent) + len(sent2), 20, "sig reports")
    m = cap.messages()[len(sent)]
    t.check(sorted(m["props"]) == ["pl-seq", "pl-sig", "pl-ts"] and
            re.fullmatch(r"[0-9a-f]{128}", m["props"]["pl-sig"]), "pl-sig headers: %s"
            % m["props"])
    t.check(m["report"]["from"] == 0, "the same entries again, from 0: %s" % m["report"])
    t.log("sig: pl-sig headers, resumed without a gap")

    # 3. kill -9 mid-stream: the restarted daemon sends from the same index, new seqs.
    logf = open(os.path.join(root, "agent-daemon.log"), "w")
    p = t.spawn(agent_cmd(root, broker, gw_pub, state, []), stdout=logf, stderr=subprocess.STDOUT)
    daemon_log = lambda: open(os.path.join(root, "agent-daemon.log")).read()
    t.wait_for(lambda: events(daemon_log(), "report_sent"), 30, "the daemon's first report")
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    killed_seqs = [int(e["seq"]) for e in events(daemon_log(), "report_sent")]
    s = state_of(state)
    t.check(s["index"] == 0 and s["next_seq"] > max(killed_seqs),
            "after kill -9: position unmoved, seqs durable: %s %s" % (s, killed_seqs))
    rc, text = run_once(root, broker, gw_pub, state, timeout_ms=5000)
    sent3 = [int(e["seq"]) for e in events(text, "report_sent")]
    t.check(sent3 and sent3[0] > max(killed_seqs), "no seq published twice: %s %s"
            % (killed_seqs, sent3))
    t.wait_for(lambda: len(cap.messages()) >= len(sent) + len(sent2) + len(killed_seqs)
               + len(sent3), 20, "all reports on the broker")
    all_seqs = [int(x["props"]["pl-seq"]) for x in cap.messages()]
    t.check(len(all_seqs) == len(set(all_seqs)) and all_seqs == sorted(all_seqs),
            "every seq on the wire once, ascending: %s" % all_seqs)
    t.check(all(x["report"]["from"] == 0 for x in cap.messages()), "never a gap")
    t.log("kill -9: resumed from the acknowledged position, no seq twice")

    # 4. Without IMA: watched files measured and reported with template "file".
    watched = os.path.join(root, "watched")
    os.makedirs(watched)
    with open(os.path.join(watched, "tool"), "w") as f:
        f.write("hello agent\n")
    rc, text = run_once(root, broker, gw_pub, os.path.join(root, "state-files"),
                        ["--source=files", "--watch=" + watched, "--auth=sig"], timeout_ms=4000)
    t.wait_for(lambda: any(x["report"]["entries"][0]["template"] == "file"
                           for x in cap.messages()), 20, "a file report")
    rep = [x["report"] for x in cap.messages() if x["report"]["entries"][0]["template"] == "file"][0]
    t.check(rep["entries"] == [{"pcr": 0, "template": "file", "hash":
            "sha256:f45f7870c441d7b6ae4e8702c85e5ebd069edd8f193d6249cca31567201f74a1",
            "path": os.path.join(watched, "tool")}], "the file entry: %s" % rep)
    t.log("files: measured and reported with template file")

    # 5. Broker and bridge outages: the daemon keeps sending (new seqs), then stops on
    # SIGTERM with its position unmoved.
    logf = open(os.path.join(root, "agent-daemon2.log"), "w")
    p = t.spawn(agent_cmd(root, broker, gw_pub, state, []), stdout=logf, stderr=subprocess.STDOUT)
    log2 = lambda: open(os.path.join(root, "agent-daemon2.log")).read()
    refusals = lambda: len(events(log2(), "report_refused"))
    t.wait_for(lambda: refusals() >= 1, 30, "the daemon's first refusal")
    broker.stop()
    time.sleep(3)
    t.check(p.poll() is None, "the agent survives the broker going away")
    broker.start()
    before = refusals()
    t.wait_for(lambda: refusals() > before, 60, "reports answered again after the broker returned")
    bridge.kill()
    time.sleep(2)
    bridge.start()
    before = refusals()
    t.wait_for(lambda: refusals() > before, 60, "reports answered by the restarted bridge")
    p.send_signal(signal.SIGTERM)
    t.check(p.wait(timeout=20) == 0, "SIGTERM: clean exit 0")
    seqs = [int(e["seq"]) for e in events(log2(), "report_sent")]
    s = state_of(state)
    t.check(seqs == sorted(set(seqs)) and seqs[0] > max(sent3), "seqs ascending across outages")
    t.check(s["index"] == 0 and s["next_seq"] == seqs[-1] + 1, "position unmoved: %s" % s)
    t.check("ev=agent_stopping" in log2(), "stop logged")
    t.log("outages: broker and bridge restarts survived, SIGTERM clean")

    bridge.kill(signal.SIGTERM)
    chain.stop_all()
    t.log("PASS")


if __name__ == "__main__":
    main()
