#!/usr/bin/env bash
# Connect + auth + one `exec true` on loopback: ours (russh, examples/ssh_connect.rs)
# vs OpenSSH `ssh -F <cfg> pi true`, median of N runs each, printed as a ratio.
# Starts its own sshd on 127.0.0.1 (needs root for /run/sshd and PermitRootLogin);
# never touches ~/.ssh. Usage: bench/ssh_connect.sh [RUNS] (default 30)
set -euo pipefail
RUNS=${1:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/ar-bench-XXXXXX)
SSHD_PID=
cleanup() { [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
[ -x /usr/sbin/sshd ] || { echo "/usr/sbin/sshd missing: apt-get install openssh-server" >&2; exit 1; }
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$T/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$T/user_key"
cp "$T/user_key.pub" "$T/authorized_keys"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$T/sshd_config" <<CFG
Port $PORT
ListenAddress 127.0.0.1
HostKey $T/host_key
PidFile $T/sshd.pid
AuthorizedKeysFile $T/authorized_keys
StrictModes no
UsePAM no
PermitRootLogin yes
PasswordAuthentication no
MaxStartups 200:30:400
CFG
/usr/sbin/sshd -D -e -f "$T/sshd_config" 2>"$T/sshd.log" &
SSHD_PID=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$T/host_key.pub")" > "$T/known_hosts"
cat > "$T/ssh_config" <<CFG
Host pi
  HostName 127.0.0.1
  Port $PORT
  User root
  IdentityFile $T/user_key
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile $T/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ControlMaster no
  ControlPath none
CFG

(cd "$ROOT" && cargo build -q --release --example ssh_connect)
OURS=$("$ROOT/target/release/examples/ssh_connect" "$PORT" "$T/user_key" "$T/known_hosts" "$RUNS")

times=()
for _ in $(seq "$RUNS"); do
  t0=$(date +%s%N)
  ssh -F "$T/ssh_config" pi true
  t1=$(date +%s%N)
  times+=($(( (t1 - t0) / 1000 )))
done
OPENSSH=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}')
COLD=$(echo "$OURS" | awk '/cold_median_ms/ {print $2}')
WARM=$(echo "$OURS" | awk '/warm_median_ms/ {print $2}')
echo "runs:                         $RUNS"
echo "openssh ssh pi true (median): ${OPENSSH} ms"
echo "agent-runner connect+auth+exec (median): ${COLD} ms"
echo "agent-runner exec on open session (median): ${WARM} ms"
awk -v o="$OPENSSH" -v c="$COLD" 'BEGIN { printf "ratio ours/openssh (cold): %.2f\n", c/o }'
