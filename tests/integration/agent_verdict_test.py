"""The integrity agent's acknowledged path against a real Mosquitto and a scripted bridge.

The bridge on main answers integrity reports `internal` only, so this test plays the
bridge's part of PROTOCOL.md section 7 with mosquitto_sub/mosquitto_pub: it reads each
report the agent publishes (signature mode: no session needed) and answers a verdict, or a
refusal. Shows: a verdict moves the agent's durable position, and the next run reports only
entries after it (`from` = entries answered so far, no repeat, no gap); a line with a bad
template hash is skipped without taking an index; --batch splits a long stretch into
consecutive reports; a `malformed` refusal is not retried and the position moves past it; a
new boot id starts again at 0."""
import json
import os
import re
import subprocess
import threading
import time

import pltest as t

BOOT1 = "3c1e5b6a-9d8f-4e2a-b1c0-7f6e5d4c3b2a"
BOOT2 = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
# Real kernel lines (ima-evm-utils' and Keylime's test data): their template hashes verify.
REAL = [
    "10 cf41b43c4031672fcc2bd358b309ad33b977424f ima-ng sha256:f1b4c7c9b27e94569f4c2b64051c452bc609c3cb891dd7fae06b758f8bc83d14 boot_aggregate",
    "10 983dcd8e6f7c84a1a5f10e762d1850623966ceab ima-ng sha256:ae06e032a65fed8102aff5f8f31c678dcf2eb25b826f77ecb699faa0411f89e0 /init",
    "10 b6e4d01c73f6e4b698eaf48e7d76a2bae0c02514 ima-ng sha256:4b1764ee112aa8b2a6ae9a3a2f1e272b6601681f610708497673cd49e5bd2f5c /bin/sh",
    "10 7936eb315fb4e74b99e7d461bc5c96049e1ee092 ima-ng sha1:bc026ae66d81713e4e852465e980784dc96651f8 /usr/lib/systemd/systemd",
    "10 5426cf3031a43f5bfca183d79950698a95a728f6 ima-sig sha256:f1125b940480d20ad841d26d5ea253edc0704b5ec1548c891edf212cb1a9365e /lib/modules/5.4.48-openpower1/kernel/drivers/usb/common/usb-common.ko ",
    "10 5d4d5141ccd5066d50dc3f21d79ba02fedc24256 ima-sig sha256:b8ae0b8dd04a5935cd8165aa2260cd11b658bd71629bdb52256a675a1f73907b /usr/bin/zmore 030204531f402500483046022100fe24678d21083ead47660e1a2d553a592d777c478d1b0466de6ed484b54956b3022100cad3adb37f277bbb03544d6107751b4cd4f2289d8353fa36257400a99334d5c3",
]
BAD_HASH = REAL[2].replace("c02514", "c02515")  # one digit of the template hash changed


class ScriptedBridge:
    """Answers each report on devices/dev-1/integrity: a verdict, or the next scripted code."""

    def __init__(self, broker):
        self.broker = broker
        self.reports = []  # (seq, report dict)
        self.refuse = []   # codes to answer instead of a verdict, in order
        self.lock = threading.Lock()
        self.sub = t.spawn(["mosquitto_sub", "-V", "mqttv5", "-h", "127.0.0.1", "-p",
                            str(broker.port), "-q", "1", "-t", "devices/dev-1/integrity",
                            "-F", "[%P] %p"], stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self.loop, daemon=True).start()
        time.sleep(1.0)

    def loop(self):
        for line in self.sub.stdout:
            m = re.match(r"\[(.*)\] (\{.*\})$", line.rstrip("\n"))
            if not m:
                continue
            props = dict(kv.split(":", 1) for kv in m.group(1).split() if ":" in kv)
            seq = int(props["pl-seq"])
            with self.lock:
                self.reports.append((seq, json.loads(m.group(2))))
                code = self.refuse.pop(0) if self.refuse else None
            if code:
                topic = "devices/dev-1/integrity/error"
                body = {"v": 1, "code": code, "reason": "scripted", "seq": seq,
                        "item": "_integrity"}
            else:
                topic = "devices/dev-1/integrity/verdict"
                body = {"v": 1, "seq": seq, "verdict": "trusted", "failures": [],
                        "record": "%064x" % seq, "height": len(self.reports)}
            subprocess.run(["mosquitto_pub", "-V", "mqttv5", "-h", "127.0.0.1", "-p",
                            str(self.broker.port), "-q", "1", "-t", topic, "-m",
                            json.dumps(body, separators=(",", ":"))], check=True)

    def taken(self):
        with self.lock:
            return list(self.reports)


def main():
    t.bins()
    root = t.tmpdir("agent_verdict")
    t.ctl("keygen", "--out=%s/dev-1.key" % root)
    broker = t.Mosquitto(root)
    bridge = ScriptedBridge(broker)
    lst = os.path.join(root, "ima_list")
    boot = os.path.join(root, "boot_id")
    state = os.path.join(root, "state")

    def write(lines, boot_id):
        with open(lst, "w") as f:
            f.write("".join(l + "\n" for l in lines))
        with open(boot, "w") as f:
            f.write(boot_id + "\n")

    def agent(*extra):
        p = subprocess.run([t.runfile("agent/integrity_agent"), "--device=dev-1",
                            "--key_file=%s/dev-1.key" % root, "--broker=" + broker.uri(),
                            "--auth=sig", "--ima_list=" + lst, "--boot_id_path=" + boot,
                            "--state_dir=" + state, "--once", "--once_timeout_ms=30000",
                            "--answer_timeout_ms=5000"] + list(extra),
                           capture_output=True, text=True, timeout=120)
        t.check(p.returncode == 0, "agent rc=%d\n%s" % (p.returncode, p.stderr[-3000:]))
        return p.stderr

    def state_now():
        return json.load(open(os.path.join(state, "agent_state.json")))

    def new_reports(n_before):
        return [r for _, r in bridge.taken()[n_before:]]

    # 1. Three entries, one verdict: the position moves to 3.
    write(REAL[:3], BOOT1)
    log = agent()
    t.check("ev=report_appraised" in log and "verdict=trusted" in log, "appraised:\n" + log)
    reps = new_reports(0)
    t.check(len(reps) == 1 and reps[0]["from"] == 0 and len(reps[0]["entries"]) == 3,
            "one report of 3 from 0: %s" % reps)
    s = state_now()
    t.check(s["boot"] == BOOT1 and s["index"] == 3 and s["offset"] == os.path.getsize(lst),
            "position after the verdict: %s" % s)
    log = agent()  # nothing new: nothing sent
    t.check(len(bridge.taken()) == 1, "nothing new, nothing sent")
    t.log("verdict moves the position; nothing new sends nothing")

    # 2. The list grows by a bad line and a good one: only the good one, from 3.
    write(REAL[:3] + [BAD_HASH, REAL[3]], BOOT1)
    log = agent()
    t.check("ev=line_skipped" in log and "line=4" in log, "bad template hash skipped:\n" + log)
    reps = new_reports(1)
    t.check(len(reps) == 1 and reps[0]["from"] == 3 and
            [e["path"] for e in reps[0]["entries"]] == ["/usr/lib/systemd/systemd"],
            "only the new entry, from 3: %s" % reps)
    t.check(state_now()["index"] == 4, "index 4")
    t.log("incremental: only new entries, skipped line takes no index")

    # 3. A malformed refusal: not retried, the position moves past (docs/AGENT.md).
    bridge.refuse = ["malformed"]
    write(REAL[:3] + [BAD_HASH, REAL[3], REAL[4]], BOOT1)
    n = len(bridge.taken())
    log = agent()
    t.check("ev=report_dropped" in log and "code=malformed" in log, "dropped:\n" + log)
    t.check(len(bridge.taken()) == n + 1, "a malformed refusal is never retried")
    t.check(state_now()["index"] == 5, "the position moved past the dropped report")
    t.log("malformed: dropped once, not retried")

    # 4. An internal refusal first: retried with a new seq, then the verdict.
    bridge.refuse = ["internal"]
    write(REAL[:3] + [BAD_HASH, REAL[3], REAL[4], REAL[5]], BOOT1)
    n = len(bridge.taken())
    log = agent()
    taken = bridge.taken()[n:]
    t.check(len(taken) == 2 and taken[0][0] < taken[1][0] and taken[0][1] == taken[1][1] and
            taken[0][1]["from"] == 5, "internal: same report again, higher seq: %s" % taken)
    t.check(state_now()["index"] == 6, "index 6 after the verdict")
    t.log("internal: retried with a new seq, then acknowledged")

    # 5. A new boot starts at 0; --batch splits it into consecutive reports.
    write(REAL, BOOT2)
    n = len(bridge.taken())
    log = agent("--batch=2")
    reps = new_reports(n)
    t.check([(r["boot"], r["from"], len(r["entries"])) for r in reps] ==
            [(BOOT2, 0, 2), (BOOT2, 2, 2), (BOOT2, 4, 2)], "new boot, batches: %s" %
            [(r["boot"], r["from"], len(r["entries"])) for r in reps])
    s = state_now()
    t.check(s["boot"] == BOOT2 and s["index"] == 6, "new boot's position: %s" % s)
    seqs = [q for q, _ in bridge.taken()]
    t.check(seqs == sorted(set(seqs)), "every seq once, ascending: %s" % seqs)
    t.log("new boot from 0; batches consecutive; seqs unique")
    t.log("PASS")


if __name__ == "__main__":
    main()
