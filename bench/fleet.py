#!/usr/bin/env python3
"""Fleet benchmark: N loopback sshd "hosts", one event per host per second.

Three ways of watching the same fleet, in one run, on the same hosts:

  ours    `agent-runner monitor --fleet hosts.toml --json`: one russh session per
          host, one long-lived `probe --stream` channel, detectors on the
          witness. Measured: event appended on the host -> its alert line
          printed by the witness.
  python  the Python tool 0.3.14's relay, `agent-runner monitor --host H --mode
          events`, one process (and one `ssh`) per host. Measured: event
          appended -> the relayed line printed.
  cm      an OpenSSH ControlMaster per host and a loop that runs `agent-runner
          peek --json --events 5` on every host (16 at a time), a cycle at most
          every second. Measured: event appended -> first cycle that shows it.

The hosts are real OpenSSH sshd daemons on 127.0.0.1 (16 ports each: sshd
listens on at most 16 sockets), each port one "host" with its own project and
log_dir, reached through a client ssh_config and known_hosts in a temp dir.
Nothing in ~/.ssh or ~/.agent-runner is read or written. The remote
`agent-runner` on the sshd PATH is a symlink switched per phase (ours for `ours`
and `cm`, the Python tool for `python`).

Before the run every host gets a history (`--history`, default 500 finished
rounds of 6 events, ending an hour ago), so the probes' backlogs and the
witness's windows are those of long-running projects. The load: host i appends at t0 + k + i/N (k = 0, 1, ...) alternately a
`transient_error_detected` (reset in an hour, so `rate_limit_active` fires) and a
`transient_error_recovered` (clears it); every event carries a token with its
append time. An `ours` alert, a relayed `python` line or a `cm` sighting is
matched to its token; a token never seen within the drain time is lost.

CPU is the sum of utime+stime (+ reaped children) over the process trees of
the watcher and of the sshd daemons (so the sshd sessions and the remote
probes / `events --tail` / `peek` processes are in), over the load window,
divided by the events delivered. Memory is sampled mid-load: the watcher's RSS
and, per host, the sshd session processes plus what they run (RSS and PSS);
"sshd excluded" is the watcher's share plus the remote processes other than
sshd (ours: the witness / N + the probe; Python: its monitor and ssh + the
remote `events --tail`).
Idle cost is measured over a quiet window before the load.

Exit status: 1 when one of the issue's targets for `ours` fails (at the
biggest N), 0 otherwise; `--no-check` only prints.

Usage: python3 bench/fleet.py [--hosts 50,200] [--python-hosts 50]
                              [--cm-hosts 50,200] [--duration 60]
Needs: /usr/sbin/sshd, ssh, ssh-keygen, the release build (built if missing),
the Python tool in $AGENT_RUNNER_PY or /opt/pyar (installed if missing and
--python-hosts is not empty). Run as root (sshd needs /run/sshd).
"""

import argparse
import concurrent.futures
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PORTS_PER_SSHD = 16
SSHD = "/usr/sbin/sshd"


def die(msg):
    print(f"fleet bench: ERROR: {msg}", file=sys.stderr)
    sys.exit(2)


def say(msg):
    print(f"fleet bench: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc ----


def proc_table():
    """pid -> (ppid, cpu seconds incl. reaped children, rss bytes)."""
    t = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        f = s[s.rfind(")") + 2 :].split()
        cpu = sum(int(x) for x in f[11:15]) / CLK
        t[int(d)] = (int(f[1]), cpu, int(f[21]) * PAGE)
    return t


def tree(t, roots, with_roots=True):
    kids = {}
    for p, (pp, _, _) in t.items():
        kids.setdefault(pp, []).append(p)
    out, stack = set(), [r for r in roots if r in t]
    while stack:
        p = stack.pop()
        if p in out:
            continue
        out.add(p)
        stack.extend(kids.get(p, []))
    if not with_roots:
        out -= set(roots)
    return out


def cpu_of(roots):
    t = proc_table()
    return sum(t[p][1] for p in tree(t, roots))


def pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def is_sshd(pid):
    """An sshd process (OpenSSH >= 9.8 names its session processes sshd-session)."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().startswith("sshd")
    except OSError:
        return False


def mem_of(roots, with_roots=True):
    """(rss, pss, process count, rss, pss and anonymous RSS of the processes
    other than sshd) summed over the trees."""
    t = proc_table()
    ps = tree(t, roots, with_roots)
    own = [p for p in ps if not is_sshd(p)]
    return (sum(t[p][2] for p in ps), sum(pss(p) for p in ps), len(ps),
            sum(t[p][2] for p in own), sum(pss(p) for p in own),
            sum(vm_kib(p, "RssAnon") for p in own))


def cmdlines(roots):
    t = proc_table()
    out = []
    for p in tree(t, roots, False):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                out.append((p, f.read().split(b"\0")))
        except OSError:
            pass
    return out


def mib(b):
    return b / (1024 * 1024)


# ---------------------------------------------------------------- setup ----


def stop_all(procs, grace):
    """SIGTERM every process, wait up to `grace` s for each, then SIGKILL."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Lab:
    """sshd daemons, client config, one project per host."""

    def __init__(self, root, n, ours_bin, ssh=True, remote_bin=None):
        self.root, self.n, self.ours_bin = root, n, ours_bin
        self.remote_bin = remote_bin or ours_bin
        self.names = [f"h{i:03d}" for i in range(n)]
        self.daemons = []
        self.ports = {}
        for d in ("sshd", "client/.ssh", "remote-home", "remote-bin", "client-bin", "hosts", "cm"):
            os.makedirs(f"{root}/{d}", exist_ok=True)
        os.chmod(f"{root}/client/.ssh", 0o700)
        kg = ["ssh-keygen", "-q", "-t", "ed25519", "-N", ""]
        subprocess.run(kg + ["-f", f"{root}/sshd/host_key"], check=True)
        subprocess.run(kg + ["-f", f"{root}/client/.ssh/id_ed25519"], check=True)
        shutil.copy(f"{root}/client/.ssh/id_ed25519.pub", f"{root}/sshd/authorized_keys")
        self.ssh_config = f"{root}/client/.ssh/config"
        # `ssh` for the Python relay: OpenSSH reads the passwd home, not $HOME,
        # so a wrapper first on PATH points it at our config.
        with open(f"{root}/client-bin/ssh", "w") as f:
            f.write(f'#!/bin/sh\nexec /usr/bin/ssh -F "{self.ssh_config}" "$@"\n')
        os.chmod(f"{root}/client-bin/ssh", 0o755)
        self.set_remote("ours")
        self._projects()
        if ssh:
            self._start_daemons()
            self._client_config()

    def set_remote(self, which):
        link = f"{self.root}/remote-bin/agent-runner"
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(self.remote_bin if which == "ours" else PY_BIN, link)

    def config_path(self, name):
        return f"{self.root}/hosts/{name}/agent-runner.toml"

    def log_dir(self, name):
        return f"{self.root}/hosts/{name}/logs"

    def prefill(self, rounds):
        """A project history: `rounds` finished rounds per host (6 events each,
        as a real serve writes them), ending an hour ago."""
        t_end = time.time() - 3600
        for name in self.names:
            lines = []
            for r in range(1, rounds + 1):
                t = t_end - (rounds - r) * 60
                def ev(dt, kind, **f):
                    x = t + dt
                    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(x)) + ".%03dZ" % (int(x * 1000) % 1000)
                    lines.append(json.dumps({"ts": ts, "event": kind, **f}))
                ev(0, "round_start", round_num=r, phase=None, config_digest="9f2c61a0d3b4e5f6",
                   config_changed=False, config_prompt_files=["prompts/main.md"], config_check_names=[],
                   config_vcs_dirty_action="stash", config_prompt_delivery="stdin")
                ev(0.1, "round_substrate_before", round_num=r, git_head="4b825dc642cb6eb9a060e54bf8d69288fbee4904",
                   paths_hash="e3b0c44298fc1c149afbf4c8996fb924")
                ev(40, "agent_exit", round_num=r, exit_code=0, duration_s=39.9, timed_out=False, exit_cause="clean")
                ev(40.1, "agent_usage_recorded", agent="claude", model="claude-sonnet-4-5", round_num=r,
                   input_tokens=18234, output_tokens=2211, cached_tokens=120332, cost_usd=0.1234,
                   duration_ms=39871, models_breakdown=None, cache_creation_tokens=3021, tool_call_count=17,
                   phase=None, success=True)
                ev(40.2, "round_substrate_after", round_num=r, git_head="4b825dc642cb6eb9a060e54bf8d69288fbee4904",
                   paths_hash="e3b0c44298fc1c149afbf4c8996fb924")
                ev(40.3, "round_end", round_num=r)
            by_month = {}
            for ln in lines:
                by_month.setdefault(json.loads(ln)["ts"][:7], []).append(ln)
            for month, ls in by_month.items():
                with open(f"{self.log_dir(name)}/events-{month}.jsonl", "a") as f:
                    f.write("\n".join(ls) + "\n")

    def _projects(self):
        tmpl = f"{self.root}/template"
        os.makedirs(tmpl)
        subprocess.run(["git", "init", "-q"], cwd=tmpl, check=True)
        subprocess.run([self.ours_bin, "init"], cwd=tmpl, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=dict(os.environ, HOME=f"{self.root}/remote-home"))
        with open(f"{tmpl}/agent-runner.toml") as f:
            text = f.read()
        for name in self.names:
            d = f"{self.root}/hosts/{name}"
            os.makedirs(f"{d}/logs")
            lines = [
                f'log_dir = "{d}/logs"' if ln.startswith("log_dir") else ln
                for ln in text.splitlines()
            ]
            with open(f"{d}/agent-runner.toml", "w") as f:
                f.write("\n".join(lines) + "\n")
        # the witness's own config (the Python relay needs one to start)
        os.makedirs(f"{self.root}/client/logs")
        with open(f"{self.root}/client/agent-runner.toml", "w") as f:
            f.write("\n".join(
                f'log_dir = "{self.root}/client/logs"' if ln.startswith("log_dir") else ln
                for ln in text.splitlines()) + "\n")

    def _start_daemons(self):
        os.makedirs("/run/sshd", exist_ok=True)
        r = self.root
        path = f"{r}/remote-bin:/usr/local/bin:/usr/bin:/bin"
        for k in range(0, self.n, PORTS_PER_SSHD):
            group = self.names[k : k + PORTS_PER_SSHD]
            for attempt in range(5):
                ports = [free_port() for _ in group]
                cfg = f"{r}/sshd/sshd_config.{k}"
                with open(cfg, "w") as f:
                    f.write("".join(f"Port {p}\n" for p in ports))
                    f.write(
                        f"ListenAddress 127.0.0.1\nHostKey {r}/sshd/host_key\n"
                        f"PidFile {r}/sshd/sshd.{k}.pid\nAuthorizedKeysFile {r}/sshd/authorized_keys\n"
                        "StrictModes no\nUsePAM no\nPermitRootLogin yes\nPasswordAuthentication no\n"
                        "KbdInteractiveAuthentication no\nMaxStartups 400:30:800\nMaxSessions 64\n"
                        "LogLevel ERROR\nUseDNS no\n"
                        f"SetEnv PATH={path} HOME={r}/remote-home\n"
                    )
                p = subprocess.Popen([SSHD, "-D", "-e", "-f", cfg], stdin=subprocess.DEVNULL,
                                     stderr=open(f"{r}/sshd/log.{k}", "w"))
                ok = False
                for _ in range(100):
                    if p.poll() is not None:
                        break
                    try:
                        socket.create_connection(("127.0.0.1", ports[-1]), 0.2).close()
                        ok = True
                        break
                    except OSError:
                        time.sleep(0.05)
                if ok:
                    self.daemons.append(p)
                    self.ports.update(zip(group, ports))
                    break
                p.kill()
                p.wait()
            else:
                die(f"sshd did not start: {open(f'{r}/sshd/log.{k}').read()[-500:]}")

    def _client_config(self):
        r = self.root
        with open(f"{r}/sshd/host_key.pub") as f:
            key = " ".join(f.read().split()[:2])
        with open(f"{r}/client/.ssh/known_hosts", "w") as f:
            for name in self.names:
                f.write(f"[127.0.0.1]:{self.ports[name]} {key}\n")
        with open(self.ssh_config, "w") as f:
            for name in self.names:
                f.write(f"Host {name}\n  HostName 127.0.0.1\n  Port {self.ports[name]}\n")
            f.write(
                f"Host *\n  User root\n  IdentityFile {r}/client/.ssh/id_ed25519\n  IdentitiesOnly yes\n"
                f"  IdentityAgent none\n  UserKnownHostsFile {r}/client/.ssh/known_hosts\n"
                "  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n"
                "  ConnectTimeout 20\n"
            )
        os.chmod(self.ssh_config, 0o600)

    def daemon_pids(self):
        return [d.pid for d in self.daemons]

    def clear_remote(self):
        """Kill whatever a phase left under the daemons (sessions included)."""
        t = proc_table()
        for p in tree(t, self.daemon_pids(), False):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.5)

    def remote_count(self, needle):
        return sum(1 for _, argv in cmdlines(self.daemon_pids()) if needle(argv))

    def stop(self):
        self.clear_remote()
        stop_all(self.daemons, 5)


# ------------------------------------------------------------ the load ----


class Load:
    """Appends the events; remembers every token's append time."""

    def __init__(self, lab, names):
        self.lab, self.names = lab, names
        self.sent = {}  # token -> (append wall time, kind)
        self.stop = threading.Event()
        self.thread = None

    def _append(self, name, k):
        now = time.time()
        token = f"b:{name}:{k}:{int(now * 1e6)}"
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%03dZ" % (int(now * 1000) % 1000)
        if k % 2 == 0:
            kind = "transient_error_detected"
            ev = {"ts": ts, "event": kind, "classification": token, "agent": "bench",
                  "reset_at_epoch": int(now) + 3600, "round_num": 0, "raw": "429", "phase": None}
        else:
            kind = "transient_error_recovered"
            ev = {"ts": ts, "event": kind, "classification": token, "agent": "bench",
                  "throttled_for_s": 1.0}
        path = f"{self.lab.log_dir(name)}/events-{time.strftime('%Y-%m', time.gmtime(now))}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(ev) + "\n").encode())
        finally:
            os.close(fd)
        self.sent[token] = (now, kind)

    def run(self, seconds):
        def go():
            n = len(self.names)
            t0 = time.monotonic()
            for k in range(seconds):
                for i, name in enumerate(self.names):
                    d = t0 + k + i / n - time.monotonic()
                    if d > 0 and self.stop.wait(d):
                        return
                    self._append(name, k)

        self.thread = threading.Thread(target=go, daemon=True)
        self.thread.start()

    def join(self):
        self.thread.join()


class Reader:
    """Reads the watchers' stdout pipes; timestamps every line on arrival."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.lines = []  # (arrival wall time, line)
        self.lock = threading.Lock()
        self.stop = False
        self.bufs = {}
        self.thread = threading.Thread(target=self._go, daemon=True)
        self.thread.start()

    def add(self, pipe):
        os.set_blocking(pipe.fileno(), False)
        self.bufs[pipe.fileno()] = b""
        self.sel.register(pipe, selectors.EVENT_READ)

    def _go(self):
        while not self.stop:
            if not self.sel.get_map():
                time.sleep(0.05)
                continue
            for key, _ in self.sel.select(0.1):
                fd = key.fileobj.fileno()
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                now = time.time()
                if not data:
                    self.sel.unregister(key.fileobj)
                    continue
                buf = self.bufs[fd] + data
                *whole, rest = buf.split(b"\n")
                self.bufs[fd] = rest
                with self.lock:
                    self.lines.extend((now, ln.decode("utf-8", "replace")) for ln in whole)

    def take(self):
        with self.lock:
            out, self.lines = self.lines, []
        return out

    def close(self):
        self.stop = True
        self.thread.join()


# --------------------------------------------------------------- phases ----


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


class Result:
    def __init__(self, tool, n):
        self.tool, self.n = tool, n
        self.lat = []
        self.expected = 0
        self.delivered = 0
        self.dupes = 0
        self.cpu_events = None  # events the watcher handled (default: delivered)
        self.cpu_local = self.cpu_remote = 0.0
        self.idle_local = self.idle_remote = 0.0
        self.window_s = self.idle_s = 0.0
        self.w_rss = self.w_hwm = self.w_pss = 0
        self.r_rss = self.r_pss = self.r_procs = 0
        self.r_own_rss = self.r_own_pss = 0  # remote processes other than sshd
        # anonymous RSS (heap, stacks, relocated data): what the hosts cannot
        # reclaim; the rest of RSS is the binary's file pages, clean page cache
        self.w_anon = self.r_own_anon = 0
        self.cycle = []
        self.orphans = None
        self.note = ""

    def row(self):
        lost = self.expected - self.delivered
        d = max(self.delivered if self.cpu_events is None else self.cpu_events, 1)
        cpu = self.cpu_local + self.cpu_remote
        return {
            "tool": self.tool,
            "hosts": self.n,
            "median_ms": round(statistics.median(self.lat) * 1000, 1) if self.lat else None,
            "p95_ms": round(pct(self.lat, 0.95) * 1000, 1) if self.lat else None,
            "max_ms": round(max(self.lat) * 1000, 1) if self.lat else None,
            "expected": self.expected,
            "delivered": self.delivered,
            "lost": lost,
            "duplicates": self.dupes,
            "cpu_core_pct_local": round(100 * self.cpu_local / self.window_s, 1),
            "cpu_core_pct_remote": round(100 * self.cpu_remote / self.window_s, 1),
            "cpu_ms_per_event": round(1000 * cpu / d, 2),
            "idle_core_pct": round(100 * (self.idle_local + self.idle_remote) / max(self.idle_s, 1e-9), 1),
            "witness_rss_mib": round(mib(self.w_rss), 1),
            "witness_peak_rss_mib": round(mib(self.w_hwm), 1),
            "remote_rss_mib_per_host": round(mib(self.r_rss) / self.n, 2),
            "remote_pss_mib_per_host": round(mib(self.r_pss) / self.n, 2),
            "remote_procs_per_host": round(self.r_procs / self.n, 2),
            "total_rss_mib_per_host": round(mib(self.w_rss / self.n + self.r_rss / self.n), 2),
            "total_pss_mib_per_host": round(mib(self.w_pss / self.n + self.r_pss / self.n), 2),
            # sshd excluded: the remote `probe` (ours) or `events --tail` (Python)
            "remote_own_rss_mib_per_host": round(mib(self.r_own_rss) / self.n, 2),
            "sshd_rss_mib_per_host": round(mib(self.r_rss - self.r_own_rss) / self.n, 2),
            "own_rss_mib_per_host": round(mib(self.w_rss / self.n + self.r_own_rss / self.n), 2),
            "own_pss_mib_per_host": round(mib(self.w_pss / self.n + self.r_own_pss / self.n), 2),
            "own_anon_mib_per_host": round(mib(self.w_anon / self.n + self.r_own_anon / self.n), 2),
            "cycle_median_s": round(statistics.median(self.cycle), 3) if self.cycle else None,
            "orphans_after_stop": self.orphans,
            "note": self.note,
        }


def vm_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measure(lab, res, names, witness_pids, reader, match, args, local_cpu_extra=lambda: 0.0):
    """Idle window, then the load; fills `res` (CPU, memory, latency)."""
    dpids = lab.daemon_pids()
    # idle
    reader.take()
    t0, l0, r0, x0 = time.monotonic(), cpu_of(witness_pids), cpu_of(dpids), local_cpu_extra()
    time.sleep(args.idle)
    res.idle_s = time.monotonic() - t0
    res.idle_local = cpu_of(witness_pids) + local_cpu_extra() - l0 - x0
    res.idle_remote = cpu_of(dpids) - r0
    reader.take()
    # load
    load = Load(lab, names)
    t0, l0, r0, x0 = time.monotonic(), cpu_of(witness_pids), cpu_of(dpids), local_cpu_extra()
    load.run(args.duration)
    time.sleep(args.duration / 2)
    res.w_rss = sum(vm_kib(p, "VmRSS") for p in tree(proc_table(), witness_pids))
    res.w_pss = sum(pss(p) for p in tree(proc_table(), witness_pids))
    res.w_anon = sum(vm_kib(p, "RssAnon") for p in tree(proc_table(), witness_pids))
    res.r_rss, res.r_pss, res.r_procs, res.r_own_rss, res.r_own_pss, res.r_own_anon = mem_of(dpids, with_roots=False)
    load.join()
    time.sleep(args.drain)
    res.window_s = time.monotonic() - t0
    res.cpu_local = cpu_of(witness_pids) + local_cpu_extra() - l0 - x0
    res.cpu_remote = cpu_of(dpids) - r0
    res.w_hwm = sum(vm_kib(p, "VmHWM") for p in tree(proc_table(), witness_pids))
    seen = {}
    for at, line in reader.take():
        tok = match(line)
        if tok is None or tok not in load.sent:
            continue
        if tok in seen:
            res.dupes += 1
            continue
        seen[tok] = at
    return load, seen


def wait_until(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.2)
    say(f"timed out after {timeout}s waiting for {what}")
    return False


def score(res, sent, seen):
    """Expected, delivered and latencies of the events in `sent` (token -> (append time, kind))."""
    res.expected = len(sent)
    res.delivered = sum(1 for t in sent if t in seen)
    res.lat = [seen[t] - sent[t][0] for t in sent if t in seen]


def finish(res, lab, reader, procs, grace, remote_match, what):
    """Stop the watcher's processes; count the remote ones matching `remote_match` still
    running 5 s later (orphans); clean up the phase."""
    stop_all(procs, grace)
    left = lambda: lab.remote_count(remote_match)
    wait_until(lambda: left() == 0, 5, what)
    res.orphans = left()
    reader.close()
    lab.clear_remote()
    return res


def phase_ours(lab, n, args):
    res = Result("ours", n)
    names = lab.names[:n]
    lab.set_remote("ours")
    fleet = f"{lab.root}/hosts.{n}.toml"
    with open(fleet, "w") as f:
        f.write("[defaults]\ninterval_s = 5\n")
        for name in names:
            f.write(f'\n[[host]]\nalias = "{name}"\nconfig = "{lab.config_path(name)}"\n')
    reader = Reader()
    # FLEET_BENCH_WRAP="valgrind --tool=massif ..." runs the witness under a tool
    wrap = os.environ.get("FLEET_BENCH_WRAP", "").split()
    w = subprocess.Popen(
        wrap + [lab.ours_bin, "monitor", "--fleet", fleet, "--ssh-config", lab.ssh_config, "--json"],
        cwd=f"{lab.root}/client-empty", stdout=subprocess.PIPE, stderr=open(f"{lab.root}/ours.{n}.err", "w"),
        stdin=subprocess.DEVNULL, env=dict(os.environ, HOME=f"{lab.root}/client"),
    )
    reader.add(w.stdout)
    connected = set()

    def ready():
        for _, line in reader.take():
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if o.get("type") == "connected":
                connected.add(o.get("host"))
        return len(connected) >= n

    t0 = time.monotonic()
    if not wait_until(ready, 120, f"{n} hosts to connect (ours)"):
        res.note = f"only {len(connected)} of {n} connected"
    res.note += f"all connected in {time.monotonic() - t0:.1f}s"

    handled = [0]

    def match(line):
        try:
            o = json.loads(line)
        except ValueError:
            return None
        if o.get("detector") != "rate_limit_active":
            return None
        if o.get("type") == "cleared":
            handled[0] += 1  # a `recovered` event, handled (it has no token)
            return None
        if o.get("type") != "alert":
            return None
        handled[0] += 1
        return (o.get("context") or {}).get("classification")

    load, seen = measure(lab, res, names, [w.pid], reader, match, args)
    want = {t: v for t, v in load.sent.items() if v[1] == "transient_error_detected"}
    score(res, want, seen)
    # CPU per event: every event (raise and clear) costs the witness a line
    res.cpu_events = handled[0]
    # the witness goes; its probes must follow within 5 s
    return finish(res, lab, reader, [w], 10, lambda a: b"probe" in a, "remote probes to exit")


def phase_python(lab, n, args):
    res = Result("python-relay", n)
    names = lab.names[:n]
    lab.set_remote("python")
    reader = Reader()
    env = dict(os.environ, HOME=f"{lab.root}/client",
               PATH=f"{lab.root}/client-bin:{os.environ.get('PATH', '/usr/bin:/bin')}")
    relays = []
    for name in names:
        p = subprocess.Popen(
            [PY_BIN, "--config", f"{lab.root}/client/agent-runner.toml", "monitor", "--host", name,
             "--mode", "events", "--remote-config", lab.config_path(name)],
            cwd=f"{lab.root}/client", stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
            stderr=open(f"{lab.root}/python.{name}.err", "w"), env=env,
        )
        relays.append(p)
        reader.add(p.stdout)
    tails = lambda: lab.remote_count(lambda a: b"--tail" in a and b"events" in a)
    t0 = time.monotonic()
    if not wait_until(lambda: tails() >= n, 180, f"{n} remote `events --tail` (python)"):
        res.note = f"only {tails()} of {n} remote tails running; "
    time.sleep(2)
    res.note += f"all tails up in {time.monotonic() - t0:.1f}s"

    def match(line):
        try:
            return json.loads(line).get("classification")
        except (ValueError, AttributeError):
            return None

    pids = [p.pid for p in relays]
    load, seen = measure(lab, res, names, pids, reader, match, args)
    score(res, load.sent, seen)
    return finish(res, lab, reader, relays, 15, lambda a: b"--tail" in a and b"events" in a,
                  "remote `events --tail` to exit (python)")


def phase_cm(lab, n, args):
    res = Result("controlmaster-peek", n)
    names = lab.names[:n]
    lab.set_remote("ours")
    ssh = ["/usr/bin/ssh", "-F", lab.ssh_config]
    masters = []
    for name in names:
        masters.append(subprocess.Popen(
            ssh + ["-M", "-S", f"{lab.root}/cm/{name}", "-N", "-o", "ControlPersist=no", name],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    up = lambda: all(os.path.exists(f"{lab.root}/cm/{x}") for x in names)
    t0 = time.monotonic()
    if not wait_until(up, 120, f"{n} ControlMasters"):
        res.note = "not every master came up; "
    res.note += f"all masters up in {time.monotonic() - t0:.1f}s"
    stop = threading.Event()
    found = []  # (time, token)
    lock = threading.Lock()

    def peek(name):
        r = subprocess.run(
            ssh + ["-S", f"{lab.root}/cm/{name}", "-o", "ControlMaster=no", name, "agent-runner",
                   "--config", lab.config_path(name), "peek", "--json", "--events", "5"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        now = time.time()
        try:
            evs = json.loads(r.stdout).get("recent_events") or []
        except ValueError:
            return
        with lock:
            found.extend((now, e.get("classification")) for e in evs)

    def loop():
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            while not stop.is_set():
                c0 = time.monotonic()
                list(pool.map(peek, names))
                took = time.monotonic() - c0
                res.cycle.append(took)
                stop.wait(max(0.0, 1.0 - took))

    class Lines:
        def take(self):
            with lock:
                out = [(t, tok) for t, tok in found]
                found.clear()
            return out

    children0 = [0.0]

    def reaped():
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    th = threading.Thread(target=loop, daemon=True)
    th.start()
    time.sleep(2)
    children0[0] = reaped()
    load, seen = measure(lab, res, names, [m.pid for m in masters], Lines(), lambda tok: tok, args,
                         local_cpu_extra=reaped)
    stop.set()
    th.join()
    score(res, load.sent, seen)
    res.dupes = 0  # a loop sees the same event in several cycles by design
    stop_all(masters, 5)
    lab.clear_remote()
    return res


# ----------------------------------------------------------------- main ----


# What `deploy` ships to a host: a static(-pie) build (docs/fleet.md "The
# remote build"). For aarch64 hosts the repo config makes `cargo build
# --release --target aarch64-unknown-linux-gnu` that build; the loopback
# "hosts" here are x86_64, so the same build for x86_64.
REMOTE_BUILD = "target/x86_64-unknown-linux-gnu/release/agent-runner"
REMOTE_RUSTFLAGS = "-C target-feature=+crt-static"


def remote_build(arg, ours_bin):
    if arg == "same":
        return ours_bin
    if arg:
        path = os.path.abspath(arg)
        if not os.access(path, os.X_OK):
            die(f"--remote-bin '{arg}' is not an executable file; build it with "
                f"RUSTFLAGS=\"{REMOTE_RUSTFLAGS}\" cargo build --release --target "
                "x86_64-unknown-linux-gnu, or pass --remote-bin same")
        return path
    say(f"building the static remote build ({REMOTE_BUILD})")
    env = dict(os.environ, RUSTFLAGS=REMOTE_RUSTFLAGS)
    subprocess.run(["cargo", "build", "--release", "-q", "--target", "x86_64-unknown-linux-gnu",
                    "--bin", "agent-runner"], cwd=REPO, env=env, check=True)
    return f"{REPO}/{REMOTE_BUILD}"


def linkage(path):
    with open(path, "rb") as f:
        head = f.read(64 * 1024)
    return "dynamic" if b"ld-linux" in head else "static"


def ints(s):
    return [int(x) for x in s.split(",") if x.strip()]


def main():
    global PY_BIN
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", default="50,200", help="host counts for ours (comma-separated)")
    ap.add_argument("--python-hosts", default="50", help="host counts for the Python relay ('' = skip)")
    ap.add_argument("--cm-hosts", default="50,200", help="host counts for the ControlMaster loop ('' = skip)")
    ap.add_argument("--duration", type=int, default=60, help="seconds of load per phase")
    ap.add_argument("--idle", type=float, default=10, help="seconds of idle measurement per phase")
    ap.add_argument("--drain", type=float, default=5, help="seconds to wait for stragglers")
    ap.add_argument("--history", type=int, default=500,
                    help="finished rounds of history per host before the run (6 events each)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON lines too")
    ap.add_argument("--no-check", action="store_true", help="do not fail on missed targets")
    ap.add_argument("--checks", default="all",
                    help="targets that fail the run: all, or some of latency,loss,rss,orphans,cpu")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--bin", help="our binary (default: build target/release/agent-runner)")
    ap.add_argument("--remote-bin", help="our binary on the hosts (default: the static remote build, "
                    f"{REMOTE_BUILD}, built if missing; 'same' = --bin)")
    args = ap.parse_args()
    ours_hosts, py_hosts, cm_hosts = ints(args.hosts), ints(args.python_hosts), ints(args.cm_hosts)
    unknown = set(args.checks.split(",")) - {"all", *CHECK_GROUPS}
    if unknown:
        die(f"--checks: unknown {', '.join(sorted(unknown))}; use all or some of {','.join(CHECK_GROUPS)}")
    if os.geteuid() != 0:
        die("run as root (sshd needs /run/sshd and the lab logs in as root)")
    for tool in (SSHD, "/usr/bin/ssh", "/usr/bin/ssh-keygen"):
        if not os.access(tool, os.X_OK):
            die(f"'{tool}' is missing: apt-get install openssh-server openssh-client")
    ours_bin = args.bin and os.path.abspath(args.bin)
    if ours_bin and not os.access(ours_bin, os.X_OK):
        die(f"--bin '{args.bin}' is not an executable file; build it with cargo build --release")
    if not ours_bin:
        ours_bin = f"{REPO}/target/release/agent-runner"
        say("building the release binary")
        subprocess.run(["cargo", "build", "--release", "-q", "--bin", "agent-runner"], cwd=REPO, check=True)
    remote_bin = remote_build(args.remote_bin, ours_bin)
    say(f"remote agent-runner: {remote_bin} ({linkage(remote_bin)})")
    PY_BIN = os.environ.get("AGENT_RUNNER_PY", "/opt/pyar/bin/agent-runner")
    if py_hosts and not os.access(PY_BIN, os.X_OK):
        say("installing the Python tool 0.3.14 into /opt/pyar")
        subprocess.run([sys.executable, "-m", "venv", "/opt/pyar"], check=True)
        subprocess.run(["/opt/pyar/bin/pip", "install", "-q", "cli-agent-runner==0.3.14"], check=True)
        PY_BIN = "/opt/pyar/bin/agent-runner"
    n_max = max(ours_hosts + py_hosts + cm_hosts)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))
    # Every remote probe (and Python `events --tail`) takes one inotify
    # instance, and here every "host" is the same user on one kernel: raise the
    # per-user limit (128 by default) for the run, put it back afterwards.
    ino = "/proc/sys/fs/inotify/max_user_instances"
    ino_old = int(open(ino).read())
    if ino_old < n_max + 128:
        with open(ino, "w") as f:
            f.write(str(n_max + 128))
        say(f"fs.inotify.max_user_instances {ino_old} -> {n_max + 128} for the run")
    root = tempfile.mkdtemp(prefix="ar-fleet-bench-")
    os.makedirs(f"{root}/client-empty")
    say(f"lab in {root}: {n_max} hosts on {-(-n_max // PORTS_PER_SSHD)} sshd daemons")
    lab = Lab(root, n_max, ours_bin, remote_bin=remote_bin)
    if args.history:
        say(f"prefilling {args.history} rounds ({args.history * 6} events) of history per host")
        lab.prefill(args.history)
    results = []
    try:
        plan = [("ours", n) for n in ours_hosts] + [("python", n) for n in py_hosts] + [("cm", n) for n in cm_hosts]
        plan.sort(key=lambda x: (x[1], x[0]))
        for tool, n in plan:
            say(f"phase {tool} with {n} hosts ({args.duration}s of load)")
            r = {"ours": phase_ours, "python": phase_python, "cm": phase_cm}[tool](lab, n, args)
            results.append(r)
            row = r.row()
            say(json.dumps(row))
    finally:
        lab.stop()
        if ino_old < n_max + 128:
            with open(ino, "w") as f:
                f.write(str(ino_old))
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    report(results, args)


def report(results, args):
    rows = [r.row() for r in results]
    cols = [
        ("tool", "tool", "{}"), ("hosts", "N", "{}"), ("median_ms", "median ms", "{}"),
        ("p95_ms", "p95 ms", "{}"), ("lost", "lost", "{}"), ("expected", "of", "{}"),
        ("duplicates", "dup", "{}"), ("cpu_core_pct_local", "cpu% loc", "{}"),
        ("cpu_core_pct_remote", "cpu% rem", "{}"), ("cpu_ms_per_event", "cpu ms/ev", "{}"),
        ("idle_core_pct", "idle cpu%", "{}"), ("witness_rss_mib", "witness MiB", "{}"),
        ("remote_rss_mib_per_host", "rem RSS/h", "{}"), ("remote_pss_mib_per_host", "rem PSS/h", "{}"),
        ("total_rss_mib_per_host", "tot RSS/h", "{}"), ("total_pss_mib_per_host", "tot PSS/h", "{}"),
        ("remote_own_rss_mib_per_host", "rem-sshd RSS/h", "{}"), ("own_rss_mib_per_host", "tot-sshd RSS/h", "{}"),
        ("own_anon_mib_per_host", "tot-sshd anon/h", "{}"),
        ("cycle_median_s", "cycle s", "{}"),
        ("orphans_after_stop", "orphans", "{}"),
    ]
    table = [[h for _, h, _ in cols]] + [[fmt.format(r[k]) for k, _, fmt in cols] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    print(f"one event per host per second, {args.duration}s of load per phase; latency = append on the host -> "
          "alert (ours) / relayed line (python) / first peek showing it (cm)")
    for row in table:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    for r in rows:
        if r["note"]:
            print(f"note {r['tool']}@{r['hosts']}: {r['note']}")
    if args.json:
        for r in rows:
            print(json.dumps(r))
    ours = [r for r in rows if r["tool"] == "ours"]
    if not ours:
        return
    big = max(ours, key=lambda r: r["hosts"])
    py = [r for r in rows if r["tool"] == "python-relay"]
    checks = [
        ("latency", f"median latency {big['median_ms']} ms <= 150 ms at {big['hosts']} hosts",
         big["median_ms"] is not None and big["median_ms"] <= 150),
        ("latency", f"p95 latency {big['p95_ms']} ms <= 500 ms", big["p95_ms"] is not None and big["p95_ms"] <= 500),
        ("loss", f"no event lost ({big['lost']} lost, {big['duplicates']} repeated)",
         big["lost"] == 0 and big["duplicates"] == 0),
        ("rss", f"witness RSS {big['witness_peak_rss_mib']} MiB <= 64 MiB", big["witness_peak_rss_mib"] <= 64),
        ("orphans", f"remote probes gone 5 s after the witness ({big['orphans_after_stop']} left)",
         big["orphans_after_stop"] == 0),
    ]
    if py:
        p = max(py, key=lambda r: r["hosts"])
        checks.append((
            "rss", f"RSS per host, sshd excluded (witness share + remote process) {big['own_rss_mib_per_host']} MiB "
            f"<= 1/5 of the Python relay's (its monitor + ssh + remote `events --tail`) {p['own_rss_mib_per_host']} MiB",
            big["own_rss_mib_per_host"] * 5 <= p["own_rss_mib_per_host"]))
        checks.append((
            "cpu", f"CPU per delivered event {big['cpu_ms_per_event']} ms <= the Python relay's {p['cpu_ms_per_event']} ms",
            big["cpu_ms_per_event"] <= p["cpu_ms_per_event"]))
    failed = 0
    if py:
        ratio = lambda a, b: f"{b / a:.1f}x" if a else "?"
        print(f"info  per host, sshd excluded: ours {big['own_rss_mib_per_host']} MiB RSS "
              f"({big['own_pss_mib_per_host']} MiB PSS), the Python relay {p['own_rss_mib_per_host']} MiB RSS "
              f"({p['own_pss_mib_per_host']} MiB PSS): {ratio(big['own_rss_mib_per_host'], p['own_rss_mib_per_host'])} "
              "below")
        print(f"info  per host, sshd excluded, anonymous memory only (what the host cannot reclaim; the rest of "
              f"RSS is clean file pages of the binary or the interpreter): ours {big['own_anon_mib_per_host']} MiB, "
              f"the Python relay {p['own_anon_mib_per_host']} MiB: "
              f"{ratio(big['own_anon_mib_per_host'], p['own_anon_mib_per_host'])} below")
        print(f"info  per host, sshd included: ours {big['total_rss_mib_per_host']} MiB RSS "
              f"({big['total_pss_mib_per_host']} MiB PSS), the Python relay {p['total_rss_mib_per_host']} MiB RSS "
              f"({p['total_pss_mib_per_host']} MiB PSS): {ratio(big['total_rss_mib_per_host'], p['total_rss_mib_per_host'])} "
              f"below; the sshd session alone is {big['sshd_rss_mib_per_host']} MiB RSS per host")
    enforced = set(args.checks.split(","))
    for group, text, ok in checks:
        counted = "all" in enforced or group in enforced
        print(f"{'PASS' if ok else 'FAIL'}  {text}{'' if counted else '  (not enforced)'}")
        failed += counted and not ok
    if failed and not args.no_check:
        sys.exit(1)


PY_BIN = "/opt/pyar/bin/agent-runner"
CHECK_GROUPS = ("latency", "loss", "rss", "orphans", "cpu")

if __name__ == "__main__":
    main()
