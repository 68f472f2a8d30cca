#!/usr/bin/env bash
# Supervisor overhead per round: the time from one agent's exit to the next
# agent's start under `serve`, with a no-op agent, ours and the Python tool
# 0.3.14 in the same run; plus the peak RSS of each `serve` process.
#
# The Python tool refuses restart_delay_s = 0, so it runs with 1 s and 1.000 s
# is subtracted from its gaps; ours runs with 0 (and once with 1 − 1.000 s too).
# Usage: bash bench/round_overhead.sh [ROUNDS]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-20}"
PYAR_VENV="${PYAR_VENV:-/opt/pyar}"
if [ ! -x "$PYAR_VENV/bin/agent-runner" ]; then
  python3 -m venv "$PYAR_VENV" && "$PYAR_VENV/bin/pip" install -q cli-agent-runner==0.3.14
fi
cargo build --release -q
OURS="$PWD/target/release/agent-runner"
PY="$PYAR_VENV/bin/agent-runner"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

prompt() { for i in $(seq 1 12); do echo "Benchmark prompt line $i: do nothing, exit at once, this is a supervisor overhead measurement."; done; }

setup() { # dir delay — the repo is $d/repo; the stamps file lives outside it
  local top="$1" delay="$2" d="$1/repo"
  mkdir -p "$d/prompts"
  ( cd "$d" && git init -q -b main && git config user.email b@x && git config user.name b )
  prompt > "$d/prompts/main.md"
  printf 'logs/\n' > "$d/.gitignore"
  cat > "$top/agent.sh" <<A
#!/usr/bin/env bash
echo "start \$(date +%s.%N)" >> "$top/stamps"
echo "end \$(date +%s.%N)" >> "$top/stamps"
exit 0
A
  chmod +x "$top/agent.sh"
  cat > "$d/agent-runner.toml" <<T
schema_version = 1
[agent]
command = ["$top/agent.sh"]
prompt_arg_template = []
prompt_delivery = "stdin"
[runtime]
work_dir = "."
log_dir = "logs"
round_budget_s = 60
restart_delay_s = $delay
[prompt]
file = "prompts/main.md"
T
  ( cd "$d" && git add -A && git commit -qm init )
}

run() { # label bin dir delay
  local label="$1" bin="$2" top="$3" delay="$4" d="$3/repo"
  ( cd "$d" && exec "$bin" --config "$d/agent-runner.toml" serve --max-rounds "$ROUNDS" >/dev/null 2>&1 ) &
  local pid=$! hwm=0
  while kill -0 "$pid" 2>/dev/null; do
    local h; h=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm=$h
    sleep 0.05
  done
  wait "$pid" || true
  python3 - "$top/stamps" "$delay" "$label" "$hwm" <<'P'
import sys, statistics
stamps, delay, label, hwm = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ev = [l.split() for l in open(stamps)]
starts = [float(t) for k, t in ev if k == "start"]
ends = [float(t) for k, t in ev if k == "end"]
gaps = [(s - e - delay) * 1000 for e, s in zip(ends, starts[1:])]
print(f"{label:28s} rounds={len(starts):3d}  overhead/round median={statistics.median(gaps):8.1f} ms  mean={statistics.mean(gaps):8.1f} ms  serve peak RSS={hwm/1024:6.1f} MiB")
open(stamps + ".median", "w").write(str(statistics.median(gaps)))
P
}

REPS="${REPS:-3}"
echo "agent-runner overhead per round: $REPS alternating runs of $ROUNDS rounds per tool, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
for r in $(seq 1 "$REPS"); do
  setup "$WORK/ours0-$r" 0
  setup "$WORK/py1-$r" 1
  run "ours (delay 0) #$r" "$OURS" "$WORK/ours0-$r" 0
  run "python 0.3.14 (1 - 1 s) #$r" "$PY" "$WORK/py1-$r" 1
done
python3 - "$WORK" "$REPS" <<'P'
import sys, statistics
w, reps = sys.argv[1], int(sys.argv[2])
def gaps(prefix, delay):
    out = []
    for r in range(1, reps + 1):
        ev = [l.split() for l in open(f"{w}/{prefix}-{r}/stamps")]
        starts = [float(t) for k, t in ev if k == "start"]; ends = [float(t) for k, t in ev if k == "end"]
        out += [(s - e - delay) * 1000 for e, s in zip(ends, starts[1:])]
    return out
o, p = gaps("ours0", 0), gaps("py1", 1)
mo, mp = statistics.median(o), statistics.median(p)
print(f"all runs: ours median {mo:.1f} ms (n={len(o)}), python median {mp:.1f} ms (n={len(p)})")
print(f"ratio python/ours (median overhead): {mp/mo:.1f}x  (target: >= 30x)")
P
