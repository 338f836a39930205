#!/usr/bin/env python3
"""Runs the side-by-side timings of bench/compare.sh, alternating the tools run by run.

    harness.py run SPEC.json OUT.json     run the figures of SPEC, store every sample in OUT
    harness.py table OUT.json [PRIMARY]   print the markdown tables of OUT (ratios PRIMARY/peer)

SPEC is a JSON object {"rounds": N, "warmup": W, "figures": [FIGURE, ...]}; a FIGURE is
{"name": ..., "gap_ms": G, "tools": [TOOL, ...]} and a TOOL is
{"tool": NAME, "steps": [[LABEL, ARGV], ...], "setup": [ARGV...], "teardown": [ARGV...]}.

For each figure: every tool's setup commands run once; then W warm-up rounds (not counted) and N
counted rounds. In each round every tool runs its steps once, one after the other (a detached
start, then its stop), and the tools take turns: round r starts with tool r mod T, so each tool
runs equally often right after each other one and a drift in the machine's load falls on all of
them. With G > 0 the harness sleeps G ms before each step: the machine is idle when the step
starts, as when a guest is started by hand, rather than busy with the previous step. A step's time is the wall-clock time from spawning its command (posix_spawn, no shell, the
same for every tool) to reaping it. (Its peak memory is not taken from wait4 here: after a
vfork-style spawn the kernel counts the harness's own resident size in the child's.) A step that
fails stops the run with its output. Then every tool's teardown commands run, also after a failure.

The harness is a child subreaper: a runtime's detached guest init or supervisor that loses its
parent becomes the harness's child and is reaped here rather than by the host's init.
"""

import ctypes
import json
import os
import statistics
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def reap_orphans():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def spawn(argv, log):
    """Runs argv with stdin /dev/null and stdout/stderr into log; returns (status, ns)."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, log, 1),
        (os.POSIX_SPAWN_DUP2, log, 2),
    ]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    t1 = time.perf_counter_ns()
    return os.waitstatus_to_exitcode(status), t1 - t0


class StepFailed(Exception):
    pass


def run_checked(argv, logpath, what):
    fd = os.open(logpath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        rc, ns = spawn(argv, fd)
    finally:
        os.close(fd)
    if rc != 0:
        with open(logpath, errors="replace") as f:
            out = f.read()[-2000:]
        raise StepFailed(f"{what}: {' '.join(argv)} exited with status {rc}\n{out}")
    return ns


def run_figure(fig, rounds, warmup, logdir):
    tools = fig["tools"]
    gap = fig.get("gap_ms", 0) / 1000
    samples = {t["tool"]: {label: [] for label, _ in t["steps"]} for t in tools}
    log = os.path.join(logdir, "step.log")
    started = []
    try:
        for t in tools:
            started.append(t)
            for argv in t.get("setup", []):
                run_checked(argv, log, f"{fig['name']} {t['tool']} setup")
        for r in range(warmup + rounds):
            k = r % len(tools)
            for t in tools[k:] + tools[:k]:
                for label, argv in t["steps"]:
                    if gap:
                        time.sleep(gap)
                    ns = run_checked(argv, log, f"{fig['name']} {t['tool']} {label}")
                    if r >= warmup:
                        samples[t["tool"]][label].append(ns / 1e6)
                reap_orphans()
    finally:
        for t in started:
            for argv in t.get("teardown", []):
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    spawn(argv, fd)
                finally:
                    os.close(fd)
        reap_orphans()
    return {"name": fig["name"], "gap_ms": fig.get("gap_ms", 0), "samples_ms": samples}


def cmd_run(spec_path, out_path):
    with open(spec_path) as f:
        spec = json.load(f)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("harness: prctl(PR_SET_CHILD_SUBREAPER): " + os.strerror(ctypes.get_errno()))
    logdir = os.path.dirname(os.path.abspath(out_path))
    result = {"rounds": spec["rounds"], "warmup": spec["warmup"], "figures": []}
    if os.path.exists(out_path):
        with open(out_path) as f:
            result = json.load(f)
    only = spec.get("only")
    for fig in spec["figures"]:
        if only and fig["name"] not in only:
            continue
        print(f"  {fig['name']}: {len(fig['tools'])} tools, {spec['rounds']} rounds", flush=True)
        try:
            res = run_figure(fig, spec["rounds"], spec["warmup"], logdir)
        except StepFailed as e:
            sys.exit(f"harness: {e}")
        result["figures"] = [x for x in result["figures"] if x["name"] != fig["name"]] + [res]
        with open(out_path, "w") as f:
            json.dump(result, f, indent=1)


def fmt(ms):
    return f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def cmd_table(out_path, primary):
    with open(out_path) as f:
        result = json.load(f)
    for fig in result["figures"]:
        s = fig["samples_ms"]
        labels = []
        for steps in s.values():
            for label in steps:
                if label not in labels:
                    labels.append(label)
        runs = len(next(iter(next(iter(s.values())).values())))
        gap = f", {fig['gap_ms']} ms idle before each" if fig.get("gap_ms") else ""
        print(f"\n{fig['name']}: ms, {runs} runs each{gap}\n")
        print("| step | tool | median | p25–p75 | min–max | " + primary + " / tool (medians) |")
        print("|---|---|---|---|---|---|")
        for label in labels:
            ours = statistics.median(s[primary][label]) if label in s.get(primary, {}) else None
            for tool, steps in s.items():
                if label not in steps:
                    continue
                v = steps[label]
                med = statistics.median(v)
                q = statistics.quantiles(v, n=4) if len(v) > 1 else [med, med, med]
                ratio = "" if ours is None or tool == primary else f"{ours / med:.2f}"
                print(f"| {label} | {tool} | {fmt(med)} | {fmt(q[0])}–{fmt(q[2])} "
                      f"| {fmt(min(v))}–{fmt(max(v))} | {ratio} |")


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "run":
        cmd_run(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 3 and sys.argv[1] == "table":
        cmd_table(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "vserver")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
