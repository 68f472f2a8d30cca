#!/usr/bin/env python3
"""Regenerate build/hot-text.ld: the code the remote probe's steady loop runs,
packed together by the release link.

Why: a `probe --stream` lives for days on every host, and what it keeps
resident is mostly code pages. The kernel maps file pages around a fault in
64 KiB windows (fault-around), so a loop whose ~200 functions are spread over a
6 MiB text keeps ~1.7 MiB of it resident; packed into one section, ~0.4 MiB.
build.rs passes the script to the release link (`-Wl,-T`, with `INSERT BEFORE
.text`, so it only adds a `.text.hot` output section to the default layout).

How: run the probe of a non-stripped release build under callgrind on a
project with history, switch instrumentation on once the connect sequence is
over, drive the loop (events every second, metrics lines, short failed rounds
with round logs, snapshots), and list every function that ran. Rust symbols
are written with their hashes as wildcards (`17h*E`, `Cs*_`, `.llvm.*`) so the
list survives rebuilds and dependency bumps; C functions of the static libc /
libm / libgcc become `archive:member` patterns (x86_64 and aarch64 members of
the same name, and the aarch64 string-function members for the x86_64 ones).
Patterns that match nothing are harmless.

    python3 bench/hot_text.py             # build, profile, write build/hot-text.ld
    python3 bench/hot_text.py --check BIN # fail unless BIN has a big enough .text.hot

Needs valgrind (callgrind), nm, readelf, the static libc (libc6-dev).
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet  # noqa: E402  (the bench's project set-up and event load)

REPO = fleet.REPO
OUT = f"{REPO}/build/hot-text.ld"
# Always hot although no steady-state profile sees them start: the release
# itself runs on after dropping the text it executes from.
EXTRA = ["_ZN12agent_runner4heap21release_startup_pages17h*E", "madvise"]
# The smallest .text.hot a current list gives (bytes); less means the list
# no longer matches the code (renamed functions): regenerate it.
MIN_HOT = 128 * 1024


def die(msg):
    print(f"hot_text: {msg}", file=sys.stderr)
    sys.exit(1)


def run_profile(binary, seconds):
    root = tempfile.mkdtemp(prefix="hot-text.")
    os.makedirs(f"{root}/client-empty")
    lab = fleet.Lab(root, 1, binary, ssh=False)
    lab.prefill(200)
    name = lab.names[0]
    log_dir = lab.log_dir(name)
    out = f"{root}/callgrind.out"
    p = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--demangle=no",
         f"--callgrind-out-file={out}", binary, "probe", "--stream", "--interval", "2",
         "--config", lab.config_path(name)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(f"{root}/valgrind.err", "w"))
    # the connect sequence ends with the first snapshot frame
    deadline = time.monotonic() + 120
    for line in p.stdout:
        if b'"snapshot"' in line:
            break
        if time.monotonic() > deadline:
            die("no snapshot frame from the probe under valgrind")
    drain = subprocess.Popen(["cat"], stdin=p.stdout, stdout=subprocess.DEVNULL)
    time.sleep(3)  # into the loop (past the release)
    subprocess.run(["callgrind_control", "-i", "on", str(p.pid)], check=True, stdout=subprocess.DEVNULL)
    load = fleet.Load(lab, [name])
    load.run(seconds)
    for k in range(seconds // 6):
        now = time.time()
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".000Z"
        month = ts[:7]
        rnd = 9000 + k
        with open(f"{log_dir}/metrics-{month}.jsonl", "a") as f:
            f.write(json.dumps({"ts": ts, "source": "serve", "disk_free_pct": 52.5,
                                "disk_free_gb": 20.1, "mem_available_mb": 812, "load_1m": 0.4}) + "\n")
        os.makedirs(f"{log_dir}/rounds", exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
        with open(f"{log_dir}/rounds/R{rnd}-{stamp}.log", "w") as f:
            f.write("".join(f"line {i}: error: 401 Unauthorized\n" for i in range(40)))
        with open(f"{log_dir}/events-{month}.jsonl", "a") as f:
            f.write(json.dumps({"ts": ts, "event": "round_start", "round_num": rnd}) + "\n")
            f.write(json.dumps({"ts": ts, "event": "agent_exit", "round_num": rnd, "exit_code": 1,
                                "duration_s": 1.5, "timed_out": False, "exit_cause": "error"}) + "\n")
            f.write(json.dumps({"ts": ts, "event": "round_end", "round_num": rnd}) + "\n")
        time.sleep(6)
    load.join()
    time.sleep(3)
    subprocess.run(["callgrind_control", "-d", str(p.pid)], check=True, stdout=subprocess.DEVNULL)
    time.sleep(1)
    p.stdin.close()
    p.wait(timeout=60)
    drain.wait(timeout=10)
    dumps = sorted(f for f in glob.glob(out + ".*") if re.search(r"\.\d+$", f))
    if not dumps:
        die(f"callgrind wrote no dump (see {root}/valgrind.err)")
    return functions_in(dumps[-1])


def functions_in(path):
    """Every function with cost in a callgrind dump (names are compressed:
    `fn=(id) name` the first time, `fn=(id)` after)."""
    names, ran = {}, set()
    for line in open(path, errors="replace"):
        m = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        kind, fid, name = m.groups()
        if name:
            names[fid] = name
        if kind == "fn":
            ran.add(fid)
    return sorted({re.sub(r"'\d+$", "", names[f]) for f in ran if f in names})


def archive_members():
    """symbol -> {(archive, member)} over the static C libraries we link."""
    libs = glob.glob("/usr/lib/x86_64-linux-gnu/libc.a") + glob.glob("/usr/lib/x86_64-linux-gnu/libm-*.a")
    libs += glob.glob("/usr/lib/gcc/x86_64-linux-gnu/*/libgcc.a")
    libs += glob.glob("/usr/aarch64-linux-gnu/lib/libc.a") + glob.glob("/usr/aarch64-linux-gnu/lib/libm-*.a")
    libs += glob.glob("/usr/lib/gcc-cross/aarch64-linux-gnu/*/libgcc.a")
    members = {}
    for lib in libs:
        out = subprocess.run(["nm", "-A", "--defined-only", lib], capture_output=True, text=True).stdout
        for line in out.splitlines():
            p = line.split()
            if len(p) < 3 or p[-2] not in ("T", "t", "W", "i"):
                continue
            parts = p[0].split(":")
            if len(parts) < 3:
                continue
            arch = "libm*.a" if os.path.basename(parts[0]).startswith("libm") else os.path.basename(parts[0])
            members.setdefault(p[-1], set()).add((arch, parts[1]))
    return members


# x86_64 string-function variants -> the family; the aarch64 libc's members for
# the same family are added too (its variants have other names).
FAMILY = re.compile(r"^__(mem\w+?|str\w+?|wmem\w+?)_(avx|evex|sse|erms)")


def script(functions, members):
    rust, c_members = [], []
    for f in EXTRA + functions:
        if f.startswith(("_ZN", "_R")):
            g = re.sub(r"17h[0-9a-f]{16}E", "17h*E", f)
            g = re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", g)
            g = re.sub(r"\.llvm\.\d+", ".llvm.*", g)
            if g not in rust:
                rust.append(g)
            continue
        found = set(members.get(f, ()))
        fam = FAMILY.match(f)
        if fam:
            base = fam.group(1)
            for sym, ms in members.items():
                if sym == base or re.match(rf"^__{base}_(generic|aarch64|simd|asimd|advsimd|sve|mops)", sym):
                    found |= {m for m in ms if m[1].endswith(".o")}
        for m in sorted(found):
            if m not in c_members:
                c_members.append(m)
    lines = [
        "/* Generated by bench/hot_text.py from a callgrind profile of the remote",
        "   probe's steady loop; regenerate after big changes to that loop.",
        "   build.rs passes it to release links. INSERT keeps the default layout. */",
        "SECTIONS",
        "{",
        "  .text.hot : ALIGN(0x10000)",
        "  {",
    ]
    # LLVM puts functions it deems cold (`#[cold]`, e.g. `RawVec::grow_one`)
    # in `.text.unlikely.*`; the loop still runs some of them.
    lines += [f"    *(.text.{g} .text.unlikely.{g})" for g in rust]
    lines += [f"    *{a}:{m}(.text .text.*)" for a, m in c_members]
    lines += ["  }", "}", "INSERT BEFORE .text;", ""]
    return "\n".join(lines), len(rust), len(c_members)


def hot_size(binary):
    out = subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        m = re.search(r"\]\s+\.text\.hot\s+\S+\s+\S+\s+\S+\s+([0-9a-f]+)", line)
        if m:
            return int(m.group(1), 16)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", metavar="BIN", help="only check BIN's .text.hot size")
    ap.add_argument("--bin", help="a non-stripped static release build to profile (default: build one)")
    ap.add_argument("--seconds", type=int, default=30, help="seconds of steady load to profile")
    args = ap.parse_args()
    if args.check:
        size = hot_size(args.check)
        if size < MIN_HOT:
            die(f"{args.check}: .text.hot is {size} bytes (< {MIN_HOT}): build/hot-text.ld no longer "
                "matches the code; regenerate it with python3 bench/hot_text.py")
        print(f"hot_text: {args.check}: .text.hot {size // 1024} KiB")
        return
    binary = args.bin
    if not binary:
        target = f"{REPO}/target/hot-text"
        env = dict(os.environ, CARGO_PROFILE_RELEASE_STRIP="none", CARGO_TARGET_DIR=target,
                   RUSTFLAGS=fleet.REMOTE_RUSTFLAGS,
                   AGENT_RUNNER_NO_HOT_TEXT="1")
        print("hot_text: building a non-stripped static release build", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release", "-q", "--target", "x86_64-unknown-linux-gnu",
                        "--bin", "agent-runner"], cwd=REPO, env=env, check=True)
        binary = f"{target}/x86_64-unknown-linux-gnu/release/agent-runner"
    functions = run_profile(os.path.abspath(binary), args.seconds)
    text, n_rust, n_c = script(functions, archive_members())
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    print(f"hot_text: {len(functions)} functions ran; wrote {OUT} ({n_rust} Rust patterns, {n_c} C members)")


if __name__ == "__main__":
    main()
