#!/usr/bin/env bash
# The demo agent that ships with agent-runner. It stands in for a coding CLI
# (claude, aider, codex, ...) so `agent-runner demo` can show the defenses at
# work with no external tool, account or network. It reads the round number
# the supervisor gives it and plays one scene per round:
#   1  a clean round: does some "work", commits it, exits 0
#   2  leaves a dirty tree behind and exits 0 -> the supervisor stashes it
#   3  hangs -> the round's wall-clock budget kills its whole process group
#   4+ declares the job done through the .agent-done sentinel -> the loop stops
set -u
round="${AGENT_RUNNER_ROUND_NUM:-1}"
log_dir="${AGENT_RUNNER_LOG_DIR:-.}"
say() { printf '[demo-agent R%s] %s\n' "$round" "$*"; }

# The prompt arrives on stdin; count it like a real agent would read it.
bytes=$(wc -c | tr -d ' ')
say "read a prompt of ${bytes} bytes in $(pwd)"

case "$round" in
  1)
    say "writing notes/progress.md and committing it"
    mkdir -p notes
    printf '# Progress\n\nRound %s: set up the notes file.\n' "$round" > notes/progress.md
    git add notes/progress.md && git -c commit.gpgsign=false -c user.name=demo-agent -c user.email=demo@agent-runner.invalid commit -q -m "demo: round $round"
    say "done, tree clean"
    exit 0 ;;
  2)
    say "editing files but forgetting to commit them"
    printf 'Round %s: unfinished thought.\n' "$round" >> notes/progress.md
    printf 'scratch\n' > scratch.txt
    exit 0 ;;
  3)
    say "thinking very hard (this will hang until the budget kills me)"
    sleep 600 &
    wait
    exit 0 ;;
  *)
    say "the job is done; asking the supervisor to stop"
    printf 'demo finished after %s rounds\n' "$round" > "$log_dir/.agent-done"
    exit 0 ;;
esac
