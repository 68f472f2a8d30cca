"""Regenerate redact_vectors.json from upstream's redactor (reference oracle).

Usage: /opt/pyar/bin/python tests/data/gen_redact_vectors.py < inputs.json > tests/data/redact_vectors.json
where inputs.json is a JSON list of strings, or the existing vectors file (its
inputs are reused; an entry with a third element, where we mask more than
upstream and say why, is kept as it is). Expected output is upstream's `redact_secrets` applied
until the text stops changing (our `redact` is the fixed point; it equals one
upstream pass whenever upstream is idempotent).
"""
import json
import sys

from agent_runner._redact import redact_secrets


def fixed_point(s: str) -> str:
    cur = redact_secrets(s)
    for _ in range(8):
        nxt = redact_secrets(cur)
        if nxt == cur:
            break
        cur = nxt
    return cur


data = json.load(sys.stdin)
out = [
    d if isinstance(d, list) and len(d) == 3 else [d[0] if isinstance(d, list) else d]
    for d in data
]
out = [d if len(d) == 3 else [d[0], fixed_point(d[0])] for d in out]
json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
sys.stdout.write("\n")
