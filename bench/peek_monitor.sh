#!/usr/bin/env bash
# Reading cost of `peek --json` and one `monitor --once` poll over a log_dir of
# 1 MiB and of 1 GiB of events (a year of month files), ours (in-process and as
# a process) vs the Python tool 0.3.14 on the same data. Target: ours < 50 ms
# at 1 GiB and <= 2x our 1 MiB time. Data goes to a temp dir under /tmp and is
# deleted afterwards.
# Usage: bash bench/peek_monitor.sh [LARGE_MIB] [--no-python]   (default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
LARGE="${1:-1024}"
shift || true
PYAR_VENV="${PYAR_VENV:-/opt/pyar}"
if [ ! -x "$PYAR_VENV/bin/agent-runner" ]; then
  python3 -m venv "$PYAR_VENV" && "$PYAR_VENV/bin/pip" install -q cli-agent-runner==0.3.14
fi
export AGENT_RUNNER_PY="$PYAR_VENV/bin/agent-runner"
cargo build --release -q --bin agent-runner --example peek_monitor_bench
exec target/release/examples/peek_monitor_bench --large-mib "$LARGE" --bin target/release/agent-runner "$@"
