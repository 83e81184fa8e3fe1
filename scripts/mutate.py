#!/usr/bin/env python3
"""Mutated variants of a labeled corpus, to measure robustness to evasion.

  scripts/mutate.py CORPUS.jsonl > mutated.jsonl
  ../shared/bin/scorecard mutated.jsonl --cordon target/release/cordon

Each `block`/`flag` case is rewritten several ways that a shell runs the same:
base64 piped into bash, `bash -c`, `eval`, written to a script file then run,
quotes inside the program name, and dotted IPv4 addresses as one decimal number.
"""
import base64
import ipaddress
import json
import re
import shlex
import sys

IP = re.compile(r"\b(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\b")


def quote_name(cmd):
    # s''sh -> the first word of each line gets empty quotes after its first letter.
    out = []
    for line in cmd.split("\n"):
        m = re.match(r"^(\s*)(sudo\s+)?([A-Za-z][\w.-]+)(.*)$", line, re.S)
        if m and len(m.group(3)) > 1:
            w = m.group(3)
            line = f"{m.group(1)}{m.group(2) or ''}{w[0]}''{w[1:]}{m.group(4)}"
        out.append(line)
    return "\n".join(out)


def decimal_ip(cmd):
    def rep(m):
        try:
            return str(int(ipaddress.IPv4Address(m.group(1))))
        except ValueError:
            return m.group(1)
    return IP.sub(rep, cmd)


MUTATIONS = {
    "b64": lambda c: f"echo {base64.b64encode(c.encode()).decode()} | base64 -d | bash",
    "bash_c": lambda c: f"bash -c {shlex.quote(c)}",
    "eval": lambda c: f"eval {shlex.quote(c)}",
    "script": lambda c: f"cat > /tmp/run.sh <<'EOF'\n{c}\nEOF\nbash /tmp/run.sh",
    "quotes": quote_name,
    "decimal_ip": decimal_ip,
}

for line in open(sys.argv[1], encoding="utf-8"):
    rec = json.loads(line)
    if rec.get("expect") not in ("block", "flag") or "command" not in rec.get("input", {}):
        continue
    for name, fn in MUTATIONS.items():
        cmd = fn(rec["input"]["command"])
        if cmd == rec["input"]["command"]:
            continue
        m = dict(rec, id=f"{rec['id']}~{name}", input={"command": cmd}, category=f"{rec.get('category')}~{name}")
        print(json.dumps(m))
