#!/usr/bin/env python3
"""The flag tables of docs/OPERATIONS.md "Configuration reference", generated from each
binary's --help (itself generated from the flag definitions), so the reference can neither
miss a flag nor keep a stale one: tests/tools/operations_doc_test.py fails when the document
differs from what this prints.

    python3 ops/flag_reference.py                    # print every table
    python3 ops/flag_reference.py --update docs/OPERATIONS.md

Binaries from $PL_BIN_DIR (default bazel-bin/); build them first:
    bazel build //node:ledger_node //mqtt-bridge:mqtt_bridge //agent:integrity_agent \
        //agent:firmware_apply //tools/device_sim //tools/ledgerctl
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# (name in the document, path under the bin folder)
DAEMONS = [
    ("ledger_node", "node/ledger_node"),
    ("mqtt_bridge", "mqtt-bridge/mqtt_bridge"),
    ("integrity_agent", "agent/integrity_agent"),
    ("firmware_apply", "agent/firmware_apply"),
    ("device_sim", "tools/device_sim/device_sim"),
]
CLUSTER_SUBCOMMANDS = ["up", "status", "down", "logs", "kill", "restart", "partition", "heal"]

FLAG = re.compile(r"^\s+--([a-z0-9_]+)(=\S*)?( \(default true\))?(?:\s{2,}(.*))?$")


def bin_dir():
    return os.environ.get("PL_BIN_DIR") or os.path.join(ROOT, "bazel-bin")


def run(argv):
    env = dict(os.environ, COLUMNS="100")  # argparse wraps at the terminal width
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    return p.stdout + p.stderr


def parse_abseil(text):
    """[(name, default, help)] in the order --help prints them; --flagfile left out (the
    text before the tables describes it)."""
    flags = []
    pending = None
    for line in text.splitlines():
        m = FLAG.match(line)
        if m and not line.startswith(" " * 20):
            name, default, true_default, help_ = m.groups()
            if name == "flagfile":
                pending = None
                continue
            default = "true" if true_default else (default[1:] if default else "")
            pending = [name, default, help_ or ""]
            flags.append(pending)
        elif pending is not None and pending[2] == "" and line.strip():
            pending[2] = line.strip()  # a long head puts the help on the next line
        else:
            pending = None
    return flags


def cell(s):
    return s.replace("|", "\\|")


def table(flags):
    out = ["| flag | default | meaning |", "|---|---|---|"]
    for name, default, help_ in flags:
        out.append("| `--%s` | %s | %s |" % (name, "`%s`" % cell(default) if default else "",
                                            cell(help_)))
    return "\n".join(out)


def daemon_block(name, rel):
    return table(parse_abseil(run([os.path.join(bin_dir(), rel), "--help"])))


def ledgerctl_block():
    """Commands with their flags, then every flag once with its default and help."""
    text = run([os.path.join(bin_dir(), "tools/ledgerctl/ledgerctl"), "help"])
    heads = [l for l in text.splitlines() if re.match(r"^  [a-z]", l)]
    first_words = [h.split()[0] for h in heads]
    # Two-word commands come in families ("firmware sign", "firmware list", ...); a single
    # command's first argument ("policy import | bind | list") is not part of its name.
    families = {w for w in first_words if first_words.count(w) > 1}
    commands = []  # (name, synopsis, [flags])
    seen = {}
    for line in text.splitlines():
        if re.match(r"^  [a-z]", line):
            words = line.split()
            two = len(words) > 1 and words[0] in families and re.match(r"^[a-z-]+$", words[1])
            commands.append([" ".join(words[:2]) if two else words[0], "", []])
            continue
        f = FLAG.match(line)
        if f and commands and line.startswith("      --"):
            parsed = parse_abseil(line)
            if parsed:
                commands[-1][2].append(parsed[0][0])
                seen.setdefault(parsed[0][0], parsed[0])
    # Help lines that wrapped onto the next line: read them from one command's own --help.
    for name, entry in seen.items():
        if entry[2] == "":
            for c in commands:
                if name in c[2]:
                    for n, d, h in parse_abseil(run([os.path.join(bin_dir(),
                                                                  "tools/ledgerctl/ledgerctl"),
                                                     "help"] + c[0].split())):
                        if n == name:
                            entry[2] = h
                    break
    out = ["| command | flags (besides `--json`, `--flagfile`) |", "|---|---|"]
    for name, _, flags in commands:
        out.append("| `%s` | %s |" % (name, " ".join("`--%s`" % f for f in flags)))
    out.append("")
    out.append(table(sorted(seen.values())))
    return "\n".join(out)


def cluster_block():
    out = ["| subcommand | option | meaning |", "|---|---|---|"]
    for sub in CLUSTER_SUBCOMMANDS:
        text = run([sys.executable, os.path.join(ROOT, "ops", "cluster"), sub, "--help"])
        opts = []
        body = text.split("options:", 1)[1] if "options:" in text else ""
        for line in body.splitlines():
            m = re.match(r"^  (?:-\w [A-Z]+, |-\w, )?(--[a-z_]+)(?: (\S+))?(?:\s{2,}(.*))?$", line)
            if m:
                if m.group(1) == "--help":
                    continue
                opts.append([m.group(1) + ("=" + m.group(2) if m.group(2) else ""),
                             m.group(3) or ""])
            elif opts and line.startswith(" " * 10) and line.strip():
                opts[-1][1] = (opts[-1][1] + " " + line.strip()).strip()
        if not opts:
            out.append("| `%s` | | |" % sub)
        for o, h in opts:
            out.append("| `%s` | `%s` | %s |" % (sub, o, cell(h)))
    return "\n".join(out)


def blocks():
    """{block name: markdown}."""
    b = {name: daemon_block(name, rel) for name, rel in DAEMONS}
    b["ledgerctl"] = ledgerctl_block()
    b["ops/cluster"] = cluster_block()
    return b


BEGIN = "<!-- BEGIN flags %s (generated by ops/flag_reference.py; do not edit) -->"
END = "<!-- END flags %s -->"


def splice(doc, name, body):
    """`doc` with the block of `name` replaced by `body`; ValueError when it has none."""
    b, e = BEGIN % name, END % name
    i, j = doc.find(b), doc.find(e)
    if i < 0 or j < i:
        raise ValueError("no block for %s" % name)
    return doc[:i + len(b)] + "\n" + body + "\n" + doc[j:]


def extract(doc, name):
    b, e = BEGIN % name, END % name
    i, j = doc.find(b), doc.find(e)
    if i < 0 or j < i:
        return None
    return doc[i + len(b):j].strip("\n")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--update":
        path = sys.argv[2]
        doc = open(path).read()
        for name, body in blocks().items():
            doc = splice(doc, name, body)
        open(path, "w").write(doc)
        return
    for name, body in blocks().items():
        print(BEGIN % name)
        print(body)
        print(END % name)
        print()


if __name__ == "__main__":
    main()
