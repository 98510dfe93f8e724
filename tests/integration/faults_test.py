"""The fault suite under load (issue 17): real processes, each validator in its own network
namespace (tests/integration/netns.py), device_sim -> Mosquitto -> mqtt_bridge -> 4 validators.

  faults_test.py GROUP [SCENARIO...]     GROUP: crash | network | resource | broker

  crash     backup_kill     kill -9 of a backup (the one the bridge talks to), restarted
            vc_primary_kill the primary cut off until a view change starts, then healed while
                            the primary of the next view is killed -9 (view v+2), restarted
            bridge_kill     kill -9 of the bridge mid-batch (outbox not empty), restarted
  network   partition_primary, partition_backup   the node's link dropped both ways (nft)
            one_way         only the packets into the primary dropped
            loss30          30 % of the primary's packets dropped each way (nft numgen)
            slow_link       the primary's link rate-limited both ways (tbf 100 kbit/s)
  broker    broker_restart  Mosquitto (persistent) stopped and started again on its port
                            (known failing, intermittently: a few answers lost)
  resource  broker_kill     Mosquitto frozen (SIGSTOP) 2 s while answers flow, killed -9,
                            started again from its autosave: answers in flight sent again
            disk_full       a backup's store on a small tmpfs, filled: ev=store_write_failed,
                            exit 4; space freed, restarted, caught up
            clock_skew      a device's clock 10 min behind, another's 10 min ahead (device_sim
                            --clock_offset_ms): every reading of theirs refused `stale`, nothing
                            else disturbed

One cluster per group, the scenarios in turn, each with its own devices publishing at a steady
rate while the fault is applied and undone, and each ending with check_outcome(): no fork
(verify-chain of every node's chain from genesis, and every node's head the same block),
every acknowledged reading (answers seen on the broker) on every node exactly once at the
height its answer named and proven there (prove-all), nothing refused (no error answers,
ledger_refused=0), the cluster serving again (a new reading acknowledged after the fault), and
the recovery times printed (never asserted): `resume` from the fault to the first answer of a
reading published after it (worst device), `rejoin` from the heal or restart until the faulty
node is back at the others' height.

Needs root (ip netns, nft, tc, mount): prints SKIPPED and passes where namespaces are
forbidden. Namespaces carry a per-run prefix and are deleted at exit, pass or fail."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import netns
import pltest as t

N = 4
VIEW_CHANGE_MS = 1000
NODE_EXTRA = ["--view_change_timeout_ms=%d" % VIEW_CHANGE_MS]
SUBMIT_TIMEOUT_MS = 3 * VIEW_CHANGE_MS
DEVICES = 4        # per scenario
RATE = 12          # readings/s per device
PUBLISH_S = 16     # seconds of publishing per scenario
FAULT_AT_ACKS = 2 * DEVICES * RATE  # about two seconds of answers before the fault
FAULT_S = 6        # seconds a network fault lasts (several view-change timeouts)
EXIT_STORE_WRITE_FAILED = 4
SLOW_RATE = "100kbit"  # the slow link: well below what the primary sends under this load
SKEW_MS = 600000    # a skewed device's clock offset, twice the bridge's --clock_window_ms
DISK_MB = 48       # the disk_full validator's tmpfs


class Ctx:
    """The group's cluster: chain, broker, bridge, tap, and the outcome rows."""

    def __init__(self, prefix, group):
        self.prefix, self.group = prefix, group
        self.root = t.tmpdir("faults-" + group)
        self.rows = []
        self.mounted = []

    def start(self, disk_node=None):
        self.broker = t.Mosquitto(self.root, persistence=True)
        self.chain = netns.NsChain(self.root, self.prefix, "faults-" + self.group)
        if disk_node is not None:
            d = "%s/%s" % (self.root, self.chain.ids[disk_node])
            os.makedirs(d)
            p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % DISK_MB, "tmpfs",
                                d], capture_output=True, text=True)
            t.check(p.returncode == 0, "mount -t tmpfs for %s's store: %s" % (
                self.chain.ids[disk_node], p.stderr.strip()))
            self.mounted.append(d)
        for i in range(N):
            self.chain.start(i, NODE_EXTRA)
        self.chain.register(devices=())
        # The bridge talks to a backup first (the primary of view 0 is v0).
        order = [(1 + k) % N for k in range(N)]
        self.bridge = t.BridgeProc(netns.Ordered(self.chain, order), self.broker, name="gw",
                                   extra=["--submit_timeout_ms=%d" % SUBMIT_TIMEOUT_MS,
                                          "--client_id=pl-faults-gw"])
        self.bridge.start()
        self.bridge_first = order[0]
        self.tap = netns.Tap(self.root, self.broker, self.group)

    def cleanup(self):
        chain = getattr(self, "chain", None)
        for i in list(chain.procs if chain else ()):
            p = chain.procs.pop(i)
            if p.poll() is None:
                p.kill()
                p.wait(timeout=20)
        for d in self.mounted:
            subprocess.run(["umount", "-l", d])

    def status(self, i):
        return self.chain.status(i)

    def up(self):
        """Indices of the validators whose process runs."""
        return [i for i, p in self.chain.procs.items() if p.poll() is None]

    def primary(self, among=None):
        """The primary as most of the live validators see it (their view mod n)."""
        views = {}
        for i in among if among is not None else self.up():
            st = self.status(i)
            if st:
                views[st["view"]] = views.get(st["view"], 0) + 1
        t.check(views, "no validator answers status")
        return max(views.items(), key=lambda kv: kv[1])[0] % N

    def height(self, i):
        st = self.status(i)
        return st["height"] if st else -1

    def log_size(self, i):
        path = "%s/%s.log" % (self.root, self.chain.ids[i])
        return os.path.getsize(path) if os.path.exists(path) else 0

    def log_since(self, i, offset):
        with open("%s/%s.log" % (self.root, self.chain.ids[i]), errors="replace") as f:
            f.seek(offset)
            return f.read()


class Load:
    """device_sim publishing DEVICES x RATE readings/s for PUBLISH_S seconds as devices
    NAME-0.. (registered first), signed (a restarted bridge forgets MAC sessions)."""

    def __init__(self, ctx, name, devices=DEVICES, seconds=PUBLISH_S, extra=()):
        self.ctx, self.name = ctx, name
        self.total = devices * RATE * seconds
        self.errlog = os.path.join(ctx.root, "device_sim-%s.log" % name)
        self.proc = t.spawn(self.argv(devices, RATE * seconds) + ["--register", "--rate=%d" % RATE]
                            + list(extra), stdout=subprocess.PIPE,
                            stderr=open(self.errlog, "w"), text=True)
        self.started = time.time()

    def argv(self, devices, count):
        c = self.ctx
        return [t.DEVICE_SIM, "--broker=" + c.broker.uri(), "--keys_dir=%s/devkeys" % c.root,
                "--genesis=" + c.chain.genesis, "--admin_key=%s/admin.key" % c.root,
                c.chain.nodes_flag(), "--devices=%d" % devices, "--device_prefix=" + self.name,
                "--mode=sig", "--count=%d" % count, "--ack_timeout_ms=150000",
                "--list_records=0", "--progress_ms=5000", "--workers=2"]

    def wait_acks(self, n, timeout=90):
        t.wait_for(lambda: self.ctx.tap.acks(self.name) >= n, timeout,
                   "%s: %d answers before the fault" % (self.name, n))

    def finish(self, timeout=300):
        out, _ = self.proc.communicate(timeout=timeout)
        return last_json(out), self.proc.returncode

    def probe(self):
        """One more reading of device NAME-0 through the whole path; -> (summary, rc)."""
        p = subprocess.run(self.argv(1, 1)[:-1] + ["--workers=1", "--ack_timeout_ms=120000"],
                           capture_output=True, text=True, timeout=300)
        return last_json(p.stdout), p.returncode


def last_json(out):
    for line in reversed((out or "").strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return None


def wait_rejoin(ctx, victim, t0, others):
    """Seconds from t0 until `victim` reaches the height the others had at t0."""
    target = max(ctx.height(i) for i in others)
    t.wait_for(lambda: ctx.height(victim) >= target, 180,
               "%s to reach height %d" % (ctx.chain.ids[victim], target))
    return time.time() - t0


def converge(ctx, timeout=120):
    """Waits until every validator reports the same height and head; -> that status."""
    return t.converge(ctx.status, range(N), timeout, "all validators at one height and head")


def check_outcome(ctx, name, load, summary, rc, fault_at, recovered_at, victim=None,
                  allow_unanswered=False):
    """The checks every scenario ends with; appends its row to ctx.rows."""
    c = ctx.chain
    # The cluster serves again: a new reading through the whole path is acknowledged.
    probe, prc = load.probe()
    t.check(prc == 0 and probe and probe["acked_recorded"] == 1,
            "%s: a new reading after the fault is acknowledged: rc=%s %s" % (name, prc, probe))
    head = converge(ctx)
    # No fork: each node's chain verifies from genesis (hash-linked, every certificate) and
    # all end in the same block, so they agree at every common height.
    for i in range(N):
        vrc, out, err = t.ctl("verify-chain", "--node=" + c.addr(i), "--genesis=" + c.genesis,
                              check_rc=False, timeout=300)
        t.check(vrc == 0 and "chain OK" in out and head["head_hash"] in out,
                "%s: %s's chain verifies and ends at %s: rc=%d %s %s" % (
                    name, c.ids[i], head["head_hash"][:16], vrc, out, err[-1000:]))
    # Every acknowledged reading, once, at its acked height, on every node; proven there.
    published, acked, errors = ctx.tap.parse(name)
    t.check(summary is not None, "%s: device_sim printed no summary (rc=%s)" % (name, rc))
    unanswered = summary["unanswered"]
    t.check((rc == 0 or allow_unanswered) and not summary["errors"] and
            (allow_unanswered or unanswered == 0) and
            summary["acked_recorded"] + unanswered == load.total,
            "%s: every reading acknowledged as recorded: rc=%s %s" % (name, rc, summary))
    # A `replay` answer to a seq that was also acknowledged answered a copy of the reading
    # (its MQTT client sent it again after a reconnect): harmless, PROTOCOL.md 5. Any other
    # error, or a `replay` with no ack of that seq, is a refusal.
    copies = [(d, b) for d, b in errors if b.get("code") == "replay" and (d, b.get("seq")) in acked]
    errors = [(d, b) for d, b in errors if (d, b) not in copies]
    if copies:
        t.log("%s: %d readings sent again by their client after a reconnect, answered replay "
              "beside their ack" % (name, len(copies)))
    t.check(not errors, "%s: error answers: %s" % (name, errors[:5]))
    t.check(len(acked) >= summary["acked_recorded"],
            "%s: %d answers seen on the broker, device_sim counted %d" % (
                name, len(acked), summary["acked_recorded"]))
    ids = []
    committed = 0
    for i in range(N):
        on_node = {}
        for d in range(DEVICES):
            device = "%s-%d" % (name, d)
            _, hist, _ = t.ctl("history", "--device=" + device, "--all", "--limit=100000",
                               "--json", "--timeout_ms=20000", "--node=" + c.addr(i))
            for e in json.loads(hist):
                key = (device, e["seq"])
                t.check(key not in on_node, "%s: %s seq %d recorded twice on %s" % (
                    name, device, e["seq"], c.ids[i]))
                on_node[key] = e
        # Where silence is allowed (a broker crash loses what it had not saved), a reading
        # left unanswered must not be on the ledger: recorded and never answered is a lost
        # answer.
        for device, seqs in summary["unanswered_seqs"].items():
            for s in seqs:
                t.check((device, s) not in on_node, "%s: %s seq %d is on %s at height %d but "
                        "was never answered" % (name, device, s, c.ids[i],
                                                on_node.get((device, s), {}).get("height", -1)))
        for key, (_, h) in acked.items():
            t.check(key in on_node, "%s: acked %s seq %d is not on %s" % (name, key[0], key[1],
                                                                          c.ids[i]))
            t.check(on_node[key]["height"] == h, "%s: %s seq %d acked at height %s, on %s at %d"
                    % (name, key[0], key[1], h, c.ids[i], on_node[key]["height"]))
        if i == 0:
            ids = sorted(e["record_id"] for k, e in on_node.items() if k in acked)
            committed = len(on_node) - 1  # without the probe
    ids_file = os.path.join(ctx.root, "acked-%s.txt" % name)
    with open(ids_file, "w") as f:
        f.write("\n".join(ids) + "\n")
    for i in range(N):
        prc, out, err = t.ctl("prove-all", "--ids_file=" + ids_file, "--genesis=" + c.genesis,
                              "--node=" + c.addr(i), check_rc=False, timeout=300)
        t.check(prc == 0 and out.strip() == "%d verified, 0 failed" % len(ids),
                "%s: %s proves every acknowledged reading: rc=%d %s %s" % (
                    name, c.ids[i], prc, out, err[-1000:]))
    # Nothing refused on the ledger by the bridge's submissions: not even by a validator
    # behind the quorum that committed a fresh device's registration (issue 17: it leaves the
    # device to the block, tests/integration/lagging_registry_test.py).
    refused = [int(x) for x in re.findall(r"ev=bridge_stats.*?ledger_refused=(\d+)",
                                          ctx.bridge.log())]
    if any(refused):
        reasons = []
        for i in range(N):
            reasons += re.findall(r'ev=(?:records|batch)_refused .*?(?:first|err)="([^"]*)"',
                                  ctx.log_since(i, 0))
        t.fail("%s: the ledger refused submissions: ledger_refused=%s: %s" % (
            name, max(refused), reasons[:5]))
    # Recovery times (printed, never asserted).
    per_device = netns.resume_seconds(published, acked, fault_at)
    resume = max(per_device.values()) if len(per_device) == DEVICES else None
    rejoin = recovered_at
    row = {"scenario": name, "published": load.total, "acked": summary["acked_recorded"],
           "committed": committed, "unanswered": unanswered, "replay_copies": len(copies),
           "replay_before_ack": summary.get("replay", {}).get("before_ack", 0),
           "resume_s": resume, "rejoin_s": rejoin, "height": head["height"],
           "view": head["view"], "victim": c.ids[victim] if victim is not None else "-"}
    ctx.rows.append(row)
    t.log("%s: OK %s" % (name, json.dumps(row)))
    return row


def fmt(x):
    return "-" if x is None else "%.1f s" % x


# ------------------------------------------------------------------------------------- crash
def sc_backup_kill(ctx, name):
    victim = ctx.bridge_first
    if victim == ctx.primary():
        victim = (victim + 1) % N
    load = Load(ctx, name)
    load.wait_acks(FAULT_AT_ACKS)
    t_fault = time.time()
    ctx.chain.kill(victim, signal.SIGKILL)
    t.log("%s: kill -9 %s" % (name, ctx.chain.ids[victim]))
    time.sleep(FAULT_S)
    t0 = time.time()
    ctx.chain.start(victim, NODE_EXTRA)
    rejoin = wait_rejoin(ctx, victim, t0, [i for i in range(N) if i != victim])
    summary, rc = load.finish()
    return check_outcome(ctx, name, load, summary, rc, t_fault, rejoin, victim)


def sc_vc_primary_kill(ctx, name):
    p = ctx.primary()
    q = (p + 1) % N  # the primary of the next view
    offsets = {i: ctx.log_size(i) for i in range(N)}
    load = Load(ctx, name)
    load.wait_acks(FAULT_AT_ACKS)
    t_fault = time.time()
    netns.cut(ctx.prefix, p)
    t.log("%s: cut the primary %s" % (name, ctx.chain.ids[p]))

    def started():
        return any("ev=view_change_started" in ctx.log_since(i, offsets[i])
                   for i in range(N) if i != p)
    t.wait_for(started, 60, "%s: a view change to start" % name)
    netns.heal(ctx.prefix, p)
    ctx.chain.kill(q, signal.SIGKILL)
    t.log("%s: view change started %.1f s after the cut: healed %s, kill -9 %s (the next "
          "primary)" % (name, time.time() - t_fault, ctx.chain.ids[p], ctx.chain.ids[q]))
    time.sleep(FAULT_S)
    t0 = time.time()
    ctx.chain.start(q, NODE_EXTRA)
    rejoin = wait_rejoin(ctx, q, t0, [i for i in range(N) if i != q])
    summary, rc = load.finish()
    row = check_outcome(ctx, name, load, summary, rc, t_fault, rejoin, q)
    t.log("%s: view now %d (primary v%d)" % (name, row["view"], row["view"] % N))
    return row


def sc_bridge_kill(ctx, name):
    load = Load(ctx, name)
    load.wait_acks(FAULT_AT_ACKS)

    def in_flight():
        s = ctx.bridge.stats()
        return s.get("outbox", 0) > 0 and s.get("received", 0) > s.get("committed", 0)
    # Mid-batch: readings taken in and not yet committed; the bridge logs its counters every
    # 2 s, so wait for a line that shows some.
    n0 = ctx.bridge.stats_lines()
    t.wait_for(lambda: ctx.bridge.stats_lines() > n0 and in_flight(), 30,
               "%s: the bridge with readings in its outbox" % name)
    before = ctx.bridge.stats()
    t_fault = time.time()
    ctx.bridge.kill(signal.SIGKILL)
    t.log("%s: kill -9 the bridge (last stats %s)" % (name, before))
    time.sleep(2)
    t0 = time.time()
    ctx.bridge.start()
    ready = time.time() - t0
    line = [ln for ln in ctx.bridge.log().splitlines() if "ev=bridge_ready" in ln][-1]
    t.log("%s: restarted: %s" % (name, line[line.index("ev="):]))
    summary, rc = load.finish()
    row = check_outcome(ctx, name, load, summary, rc, t_fault, ready)
    t.log("%s: the restarted bridge was ready after %.1f s" % (name, ready))
    return row


# ----------------------------------------------------------------------------------- network
def network_fault(ctx, name, victim, apply, what):
    load = Load(ctx, name)
    load.wait_acks(FAULT_AT_ACKS)
    t_fault = time.time()
    apply(ctx.prefix, victim)
    t.log("%s: %s on %s" % (name, what, ctx.chain.ids[victim]))
    time.sleep(FAULT_S)
    effect = netns.dropped(ctx.prefix, victim)
    t0 = time.time()
    netns.heal(ctx.prefix, victim)
    t.log("%s: healed %s after %.1f s: %s" % (name, ctx.chain.ids[victim], t0 - t_fault, effect))
    t.check(effect["nft_dropped"] + effect["tbf_dropped"] + effect["tbf_overlimits"] > 0,
            "%s: the fault touched no packet: %s" % (name, effect))
    rejoin = wait_rejoin(ctx, victim, t0, [i for i in range(N) if i != victim])
    summary, rc = load.finish()
    return check_outcome(ctx, name, load, summary, rc, t_fault, rejoin, victim)


def sc_partition_primary(ctx, name):
    return network_fault(ctx, name, ctx.primary(), netns.cut, "partition")


def sc_partition_backup(ctx, name):
    p = ctx.primary()
    victim = ctx.bridge_first if ctx.bridge_first != p else (p + 1) % N
    return network_fault(ctx, name, victim, netns.cut, "partition")


def sc_one_way(ctx, name):
    return network_fault(ctx, name, ctx.primary(),
                         lambda prefix, i: netns.one_way(prefix, i, inbound=True),
                         "one-way partition (packets into it dropped)")


def sc_loss30(ctx, name):
    return network_fault(ctx, name, ctx.primary(), lambda prefix, i: netns.lossy(prefix, i, 30),
                         "30% packet loss each way")


def sc_slow_link(ctx, name):
    return network_fault(ctx, name, ctx.primary(),
                         lambda prefix, i: netns.slow(prefix, i, rate=SLOW_RATE),
                         "tbf %s each way" % SLOW_RATE)


# ---------------------------------------------------------------------------------- resource
def check_device_session(ctx, name, summary):
    """A device client disconnected for malformed packets after a broker restart fails the
    scenario. Paho C (used until 2026-12-03; docs/RELIABILITY.md, fault suite finding 2)
    resent a QoS 1 publish from freed memory after a failed first write; the libmosquitto
    client that replaced it must never show it."""
    log = open(os.path.join(ctx.root, "mosquitto.log"), errors="replace").read()
    loops = log.count("Client pl-%s disconnected due to malformed packet" % name)
    t.check(not (summary and summary["unanswered"] and loops),
            "%s: no malformed-packet disconnects (Paho C's freed-publish resend, fixed): the device's "
            "client was disconnected %d times for a malformed packet after the restart and "
            "left %d readings unanswered" % (name, loops, summary and summary["unanswered"]))


def sc_broker_restart(ctx, name):
    # The checked devices keep their MQTT session at the broker (as the bridge does), so
    # answers published while they reconnect wait for them and their client resends what
    # the broker had not acknowledged. Beside them, devices with a clean session, which can
    # lose both (MQTT drops QoS 1 messages for a client with no session, and a client
    # reconnecting clean discards its unacknowledged publishes): only counted, and whatever
    # of theirs reached the broker must be on the ledger once.
    load = Load(ctx, name, extra=["--persistent_session", "--client_id=pl-" + name])
    clean = Load(ctx, name + "c", devices=2, extra=["--ack_timeout_ms=30000"])
    load.wait_acks(FAULT_AT_ACKS)
    t_fault = time.time()
    ctx.broker.stop()
    t.log("%s: Mosquitto stopped" % name)
    time.sleep(2)
    t0 = time.time()
    ctx.broker.start()
    t.log("%s: Mosquitto started again on port %d" % (name, ctx.broker.port))
    summary, rc = load.finish()
    check_device_session(ctx, name, summary)
    csum, crc = clean.finish()
    # Back: the first answer the broker delivered after its restart.
    _, acked, _ = ctx.tap.parse(name)
    after = [when for when, _ in acked.values() if when > t0]
    back = min(after) - t0 if after else None
    t.check(csum is not None and not csum["errors"] and
            csum["acked_recorded"] + csum["unanswered"] == clean.total,
            "%s: clean-session devices: only answers or silence: %s" % (name, csum))
    # Every reading the broker took (the tap saw it) is on the ledger once, answered or not;
    # an unanswered one the broker never saw was dropped by the device's MQTT client, which
    # discards its unacknowledged publishes when it reconnects with a clean session (no
    # PUBACK: the device must send it again).
    c_published, c_acked, _ = ctx.tap.parse(name + "c")
    answers_lost = never_sent = 0
    for device, seqs in csum["unanswered_seqs"].items():
        _, hist, _ = t.ctl("history", "--device=" + device, "--all", "--limit=100000", "--json",
                           ctx.chain.nodes_flag())
        on = [e["seq"] for e in json.loads(hist)]
        for s in seqs:
            t.check(on.count(s) <= 1, "%s: %s seq %d on the ledger %d times" % (
                name, device, s, on.count(s)))
            if (device, s) in c_published:
                t.check(on.count(s) == 1, "%s: %s seq %d reached the broker and is not on the "
                        "ledger" % (name, device, s))
            if on.count(s):
                answers_lost += 1
            else:
                never_sent += 1
    for d in range(2):
        device = "%sc-%d" % (name, d)
        _, hist, _ = t.ctl("history", "--device=" + device, "--all", "--limit=100000", "--json",
                           ctx.chain.nodes_flag())
        on = [e["seq"] for e in json.loads(hist)]
        t.check(len(on) == len(set(on)), "%s: %s has a seq recorded twice" % (name, device))
        for (dev, s) in c_published:
            t.check(dev != device or s in on, "%s: %s seq %d reached the broker and is not on "
                    "the ledger" % (name, device, s))
        for (dev, s) in c_acked:
            t.check(dev != device or s in on, "%s: acked %s seq %d is not on the ledger" % (
                name, device, s))
    t.log("%s: clean-session devices: %d of %d unanswered: %d on the ledger (answer lost), %d "
          "never reached the broker (dropped by the device's client at its clean reconnect): %s"
          % (name, answers_lost + never_sent, clean.total, answers_lost, never_sent,
             csum["unanswered_seqs"]))
    row = check_outcome(ctx, name, load, summary, rc, t_fault, back)
    row["clean_unanswered"] = (answers_lost, never_sent)
    return row


def sc_broker_kill(ctx, name):
    # A broker crash: frozen (SIGSTOP) for 2 s while the bridge goes on committing and
    # publishing answers into its socket, then killed -9 and started again from its last
    # autosave (1 s). The answers in flight were never acknowledged by the broker: the
    # bridge's client must send them again, so every recorded reading is answered.
    load = Load(ctx, name, extra=["--persistent_session", "--client_id=pl-" + name])
    load.wait_acks(FAULT_AT_ACKS)
    t_fault = time.time()
    ctx.broker.proc.send_signal(signal.SIGSTOP)
    time.sleep(2)
    ctx.broker.proc.send_signal(signal.SIGKILL)
    ctx.broker.proc.wait(timeout=10)
    ctx.broker.proc = None
    t.log("%s: Mosquitto frozen 2 s, killed -9" % name)
    t0 = time.time()
    ctx.broker.start()
    summary, rc = load.finish()
    check_device_session(ctx, name, summary)
    _, acked, _ = ctx.tap.parse(name)
    after = [when for when, _ in acked.values() if when > t0]
    back = min(after) - t0 if after else None
    # Readings the broker acknowledged to the devices and had neither handed to the bridge
    # nor saved die with it: unanswered, and not recorded (the device must send them again).
    t.log("%s: %d readings lost with the broker (unanswered, not on the ledger): %s" % (
        name, summary and summary["unanswered"], summary and summary["unanswered_seqs"]))
    return check_outcome(ctx, name, load, summary, rc, t_fault, back, allow_unanswered=True)


def sc_disk_full(ctx, name):
    victim = N - 1  # its store is on the tmpfs
    t.check(ctx.mounted, "disk_full needs the group started with a tmpfs store")
    d = ctx.mounted[0]
    filler = os.path.join(d, "filler")
    load = Load(ctx, name)
    load.wait_acks(FAULT_AT_ACKS)
    t_fault = time.time()
    subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=1M"], capture_output=True)
    free = os.statvfs(d)
    t.log("%s: %s's disk filled (%d bytes free)" % (name, ctx.chain.ids[victim],
                                                   free.f_bavail * free.f_frsize))
    p = ctx.chain.procs[victim]
    deadline = time.time() + 120
    while p.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    t.check(p.poll() is not None, "%s: %s did not stop on a full disk" % (name,
                                                                          ctx.chain.ids[victim]))
    del ctx.chain.procs[victim]
    log = ctx.log_since(victim, 0)
    fails = re.findall(r".*ev=store_write_failed.*", log)
    t.log("%s: %s exited %d %.1f s after the disk filled: %s" % (
        name, ctx.chain.ids[victim], p.returncode, time.time() - t_fault,
        fails[-1] if fails else "(no ev=store_write_failed)"))
    t.check(p.returncode == EXIT_STORE_WRITE_FAILED, "%s: exit code %d on a full disk, want %d"
            % (name, p.returncode, EXIT_STORE_WRITE_FAILED))
    t.check(fails and "lvl=error" in fails[-1], "%s: lvl=error ev=store_write_failed" % name)
    time.sleep(2)
    os.remove(filler)
    t0 = time.time()
    ctx.chain.start(victim, NODE_EXTRA)
    rejoin = wait_rejoin(ctx, victim, t0, [i for i in range(N) if i != victim])
    summary, rc = load.finish()
    return check_outcome(ctx, name, load, summary, rc, t_fault, rejoin, victim)


def sc_clock_skew(ctx, name):
    load = Load(ctx, name)
    load.wait_acks(FAULT_AT_ACKS)
    t_fault = time.time()
    # Two devices whose clocks are 10 min behind and ahead (the bridge's window: 5 min),
    # publishing beside the others.
    for tag, offset in (("b", -SKEW_MS), ("a", SKEW_MS)):
        skewed = name + tag
        sim = Load(ctx, skewed, devices=1, seconds=2,
                   extra=["--clock_offset_ms=%d" % offset, "--expect_error=stale"])
        ssum, src = sim.finish()
        t.log("%s: a device %+d ms off: rc=%s errors %s acked %s" % (
            name, offset, src, ssum and ssum["errors"], ssum and ssum["acked_recorded"]))
        t.check(src == 0 and ssum and ssum["errors"] == {"stale": sim.total} and
                ssum["acked_recorded"] == 0,
                "%s: every reading of the device %+d ms off refused stale: rc=%s %s" % (
                    name, offset, src, ssum))
        _, _, errs = ctx.tap.parse(skewed)
        t.check(len(errs) == sim.total and all(b.get("code") == "stale" for _, b in errs),
                "%s: %d stale answers on the broker: %s" % (name, len(errs), errs[:3]))
        _, hist, _ = t.ctl("history", "--device=%s-0" % skewed, "--all", "--json",
                           ctx.chain.nodes_flag())
        t.check(json.loads(hist) == [], "%s: nothing of %s-0 on the ledger" % (name, skewed))
    summary, rc = load.finish()
    return check_outcome(ctx, name, load, summary, rc, t_fault, None)


GROUPS = {
    "crash": [("backup_kill", sc_backup_kill), ("vc_primary_kill", sc_vc_primary_kill),
              ("bridge_kill", sc_bridge_kill)],
    "network": [("partition_primary", sc_partition_primary),
                ("partition_backup", sc_partition_backup), ("one_way", sc_one_way),
                ("loss30", sc_loss30), ("slow_link", sc_slow_link)],
    "resource": [("broker_kill", sc_broker_kill), ("disk_full", sc_disk_full),
                 ("clock_skew", sc_clock_skew)],
    # Known failing, intermittently (docs/RELIABILITY.md "Fault suite under load"): after a
    # clean broker restart a few recorded readings of persistent-session devices stay
    # unanswered. Its own target, tagged manual, until that is fixed.
    "broker": [("broker_restart", sc_broker_restart)],
}


def dump_logs(root):
    for f in sorted(os.listdir(root)):
        if f.endswith(".log"):
            lines = open(os.path.join(root, f), errors="replace").read().splitlines()
            lines = [ln for ln in lines if "block_committed" not in ln]
            print("---- %s (last 25 lines other than block_committed) ----" % f)
            print("\n".join(lines[-25:]))


def inside(prefix, args):
    if not args or args[0] not in GROUPS:
        t.fail("usage: faults_test.py %s [SCENARIO...]" % "|".join(GROUPS))
    group, only = args[0], args[1:]
    scenarios = [(n, f) for n, f in GROUPS[group] if not only or n in only]
    t.check(scenarios, "no scenario named %s in %s" % (only, group))
    t.bridge_bins()
    ctx = Ctx(prefix, group)
    try:
        disk = N - 1 if any(n == "disk_full" for n, _ in scenarios) else None
        ctx.start(disk_node=disk)
        t.log("%s: 4 validators, Mosquitto, the bridge up" % group)
        for name, fn in scenarios:
            t0 = time.time()
            fn(ctx, name)
            t.log("%s: done in %.0f s" % (name, time.time() - t0))
        ctx.tap.stop()
        ctx.bridge.kill(signal.SIGTERM)
        ctx.chain.stop_all()
        t.check_sanitizer_logs(ctx.root)
    except SystemExit:
        dump_logs(ctx.root)
        raise
    finally:
        ctx.cleanup()
    for r in ctx.rows:
        print("faults_test: %-17s published %4d acked %4d committed %4d unanswered %d "
              "replay copies %d | acks resumed %s after the fault, faulty part back %s | "
              "height %d view %d" % (
                  r["scenario"], r["published"], r["acked"], r["committed"], r["unanswered"],
                  r["replay_copies"], fmt(r["resume_s"]), fmt(r["rejoin_s"]), r["height"],
                  r["view"]), flush=True)
    print("PASS")


if __name__ == "__main__":
    prefix, args = netns.enter("faults_test", __file__, tools=(("tc", "iproute2"),))
    inside(prefix, args)
