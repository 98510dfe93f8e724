#!/usr/bin/env python3
"""ledgerctl's command line: each command accepts only its own flags (a flag another command
owns is refused naming the command, exit 2, nothing done), on the command line and in a
--flagfile; help shows each command's flags with their defaults; the accepted forms
(--name=value, --name value, --bool, repeated --validator) keep working."""
import os
import subprocess
import sys
import tempfile


def runfile(rel):
    base = os.environ.get("RUNFILES_DIR") or os.environ.get("TEST_SRCDIR")
    ws = os.environ.get("TEST_WORKSPACE", "provledger")
    if base and os.path.exists(os.path.join(base, ws, rel)):
        return os.path.join(base, ws, rel)
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bazel-bin", rel)


CTL = runfile("tools/ledgerctl/ledgerctl")
failures = []


def ctl(*args):
    p = subprocess.run([CTL] + list(args), capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


root = tempfile.mkdtemp(prefix="ledgerctl_flags_")
key = os.path.join(root, "a.key")

# The first word of two-word commands alone lists them (usage error, exit 2).
rc, out, err = ctl("firmware")
check(rc == 2 and "firmware publish" in err and "firmware status" in err,
      "ledgerctl firmware lists its commands (rc=%d)" % rc)
rc, out, err = ctl("no-such-command")
check(rc == 2 and "unknown command" in err, "an unknown command is named (rc=%d)" % rc)

# A flag of another command is refused, naming the command and the flag; no key is written.
rc, out, err = ctl("keygen", "--out=" + key, "--node=127.0.0.1:7000")
check(rc == 2, "keygen --node exits 2 (rc=%d)" % rc)
check("--node is not a flag of keygen" in err, "the refusal names flag and command: " + err)
check("status" in err, "the refusal says which commands own --node: " + err)
check(not os.path.exists(key), "nothing was done")

rc, out, err = ctl("status", "--data_dir=" + root, "--node=127.0.0.1:1")
check(rc == 2 and "--data_dir is not a flag of status" in err, "status refuses --data_dir: " + err)

# The same through a flag file.
flagfile = os.path.join(root, "flags")
with open(flagfile, "w") as f:
    f.write("--out=%s\n--count=5\n" % key)
rc, out, err = ctl("keygen", "--flagfile=" + flagfile)
check(rc == 2 and "--count" in err and "not a flag of keygen" in err and "flagfile" in err,
      "a foreign flag in a --flagfile is refused: rc=%d %s" % (rc, err))
check(not os.path.exists(key), "nothing was done (flag file)")

# Own flags work in every accepted form, and from a flag file.
with open(flagfile, "w") as f:
    f.write("# keys\n--out=%s\n" % key)
rc, out, err = ctl("keygen", "--flagfile=" + flagfile)
check(rc == 0 and os.path.exists(key) and "pubkey" in out, "keygen reads --out from a flag file")
rc, out, err = ctl("keygen", "--out", key)
check(rc == 1 and "exists" in err, "--out FILE (space) is read; existing key kept: " + err)
rc, out, err = ctl("keygen", "--out", key, "--force", "--json")
check(rc == 0 and '"pubkey"' in out, "--force and --json as bare booleans")
rc, out, err = ctl("pubkey", "--key=" + key)
check(rc == 0 and len(out.strip()) == 66, "pubkey --key=FILE")

# Unknown flags and bad values: exit 2 with the name.
rc, out, err = ctl("status", "--bogus=1")
check(rc == 2 and "unknown flag --bogus" in err, "unknown flag refused: " + err)
rc, out, err = ctl("history", "--device=d", "--limit=many")
check(rc == 2 and "limit" in err, "bad value refused: " + err)

# Repeated --validator / --admin build one genesis.
args = ["genesis", "--chain_id=t", "--out=" + os.path.join(root, "g.json"), "--admin=" + key]
for i in range(4):
    vkey = os.path.join(root, "v%d.key" % i)
    ctl("keygen", "--out=" + vkey)
    args.append("--validator=v%d:%s:127.0.0.1:%d" % (i, vkey, 7000 + i))
rc, out, err = ctl(*args)
check(rc == 0 and "4 validator(s)" in out, "repeated --validator: " + out + err)

# Help: per command, its own flags with defaults only.
rc, out, err = ctl("submit", "--help")
check(rc == 0 and "--count" in out and "(default 1)" in out and "--timeout_ms=30000" in out,
      "submit --help: defaults")
rc, out, err = ctl("watch", "--help")
check(rc == 0 and all(f in out for f in ("--count", "--seconds=0", "--interval_ms=200", "--node")),
      "watch --help: its flags " + out)
check("--all" not in out and "--ids_file" not in out, "watch --help: only watch's flags")
rc, out, err = ctl("status", "--help")
check(rc == 0 and "--all" in out and "--genesis" in out and "FORK" in out, "status --help: " + out)
rc, out, err = ctl("watch", "--all")
check(rc == 2 and "not a flag of watch" in err, "watch refuses --all: " + err)
check("--data_dir" not in out and "--ids_file" not in out, "submit --help: only submit's flags")
rc, out, err = ctl("help")
check(rc == 0 and all(c in out for c in ("keygen", "verify-chain", "prove-all", "revoke-device")),
      "help lists every command")

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("all checks passed")
