"""Regenerate expected.json: run upstream's real built-in plugins (0.3.14) on
every case in cases.json and record the events they emit, payload order kept.

Usage: /opt/pyar/bin/python tests/data/parsers/gen_expected.py
"""
import json
import tempfile
from pathlib import Path
from types import SimpleNamespace

from agent_runner import clock
from agent_runner.builtin_plugins import claude_rate_limit, codewhale, gemini, kimi, pi
from agent_runner.hooks import HookContext

NOW = 1_800_000_000
clock.RealClock.epoch = lambda self: float(NOW)  # pin the plugins' "now"

HERE = Path(__file__).parent
HOOKS = {
    "claude": claude_rate_limit.ClaudeErrorDetector(),
    "gemini": gemini.GeminiErrorDetector(),
    "codewhale": codewhale.CodewhaleErrorDetector(),
    "kimi": kimi.KimiErrorDetector(),
    "pi": pi.PiErrorDetector(),
}

expected = {}
for case in json.loads((HERE / "cases.json").read_text()):
    with tempfile.TemporaryDirectory() as d:
        log_dir = Path(d)
        ctx = HookContext(
            work_dir=log_dir,
            log_dir=log_dir,
            project="p",
            round_num=7,
            phase=case["phase"],
            agent_name=case["agent"],
            agent_binary=case["agent"],
            agent_log_path=HERE / "samples" / case["file"],
            anomaly_repetitive_window=case["window"],
            anomaly_repetitive_threshold=case["threshold"],
        )
        HOOKS[case["agent"]].after_round(ctx, SimpleNamespace(ok=case["success"]))
        events = []
        for f in sorted(log_dir.glob("events-*.jsonl")):
            for line in f.read_text().splitlines():
                ev = json.loads(line)
                ev.pop("ts")
                kind = ev.pop("event")
                events.append([kind, ev])
        expected[case["name"]] = events

(HERE / "expected.json").write_text(json.dumps(expected, ensure_ascii=False, indent=1) + "\n")
print(f"{len(expected)} cases")
