"""CPU seconds of the processes a benchmark started, from /proc (ops/bench_suite.py,
ops/bench_bridge.py and ops/bench_bridge_ab.py through it)."""
import os

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid, missing=None):
    """utime + stime of `pid` in seconds; `missing` when it cannot be read (the process is
    gone)."""
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / TICK  # utime, stime
    except (OSError, IndexError):
        return missing


def ctx_switches(pid, missing=None):
    """Context switches (voluntary + involuntary) of the threads `pid` has now, summed over
    /proc/PID/task (a thread that ended took its counts with it); `missing` when the process
    cannot be read."""
    try:
        total = 0
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                for line in open("/proc/%d/task/%s/status" % (pid, tid)):
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
            except OSError:
                pass  # the thread ended between the listing and the read
        return total
    except OSError:
        return missing


class Procs:
    """Long-running processes of a measurement, by name, for CPU deltas; a process that
    cannot be read counts `missing` (cpu_s)."""

    def __init__(self, missing=None):
        self.pids = {}
        self.missing = missing

    def add(self, name, pid):
        self.pids[name] = pid

    def snap(self):
        return {n: cpu_s(p, self.missing) for n, p in self.pids.items()}

    def snap_ctx(self):
        """Context switches by name (ctx_switches), None where unreadable."""
        return {n: ctx_switches(p) for n, p in self.pids.items()}

    @staticmethod
    def diff(a, b, digits=3):
        """CPU seconds from snap `a` to snap `b`, by name, rounded to `digits` places; a name
        that `a` lacks or that either could not read is left out."""
        return {n: round(b[n] - a[n], digits) for n in b
                if b[n] is not None and a.get(n) is not None}
