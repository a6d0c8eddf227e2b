"""SIPp through an edge element: CPU per call and calls/s, sipguard against a minimal relay.

Invariant: both elements carry the same SIPp traffic in the same run (caller SIPp ->
element -> PBX SIPp, all on 127.0.0.1, UDP): ``--calls`` OPTIONS transactions, then
``--calls`` INVITE/ACK/BYE calls, at ``--rate`` per second. An element's cost is the CPU
time (user + system, from /proc/<pid>/stat) it spent while SIPp ran, divided by the
calls; a run where SIPp reports a failed call is reported as failed, not timed.

The reference is bench/relay.py, a uvloop UDP relay that parses nothing: the least any
SIP element can do per message. sipguard runs in edge mode on its stateful proxy (one
upstream, probes off). The ratio is sipguard's CPU per call over the relay's.

Usage: python bench/sipp_edge.py [--calls 2000] [--rate 200] [--element NAME ...] [--json]
Needs SIPp (Debian package sip-tester). Every process it starts ends by PID.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TICKS = os.sysconf("SC_CLK_TCK")
SCENARIOS = {
    "options": (str(BENCH / "sipp" / "uac_options.xml"), str(BENCH / "sipp" / "uas_options.xml")),
    "invite": ("uac", "uas"),
}


@dataclass(frozen=True, slots=True)
class Result:
    """One element carrying one scenario."""

    element: str
    scenario: str
    calls: int
    failed: int
    seconds: float
    cpu_us_per_call: float
    calls_per_second: float


def free_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@contextlib.contextmanager
def process(
    cmd: Sequence[str], ready: str | None = None, **kw: object
) -> Iterator[subprocess.Popen[str]]:
    """Start ``cmd``; wait for ``ready`` on its stderr/stdout (bounded); end it by PID."""
    proc = subprocess.Popen(
        list(cmd),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,  # type: ignore[call-overload]
    )
    try:
        if ready is not None:
            deadline = time.monotonic() + 20
            for line in proc.stdout or ():
                if ready in line or time.monotonic() > deadline:
                    break
        else:
            time.sleep(0.3)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def sipp(scenario: str, port: int, *, remote: str | None, calls: int, rate: int) -> list[str]:
    """A SIPp command line: built-in scenario name or XML path."""
    sipp_bin = shutil.which("sipp")
    if sipp_bin is None:
        raise SystemExit("bench/sipp_edge.py needs SIPp: apt-get install -y sip-tester")
    cmd = [sipp_bin, "-sf" if scenario.endswith(".xml") else "-sn", scenario]
    if remote:
        cmd += [remote, "-s", "2001", "-r", str(rate), "-l", str(rate * 4)]
    cmd += ["-i", "127.0.0.1", "-p", str(port), "-m", str(calls), "-nostdin"]
    return cmd


def element_command(name: str, port: int, pbx_port: int, workdir: Path) -> tuple[list[str], str]:
    """How to start element ``name`` listening on ``port`` in front of ``pbx_port``."""
    if name == "relay":
        return [sys.executable, str(BENCH / "relay.py"), str(port), str(pbx_port)], "relay ready"
    config = workdir / "sipguard.toml"
    config.write_text(
        f'[server]\nstate_dir = "{workdir / "state"}"\n'
        "[dispatcher]\nprobe_interval = 0\n"
        f'[[listen]]\ntransport = "udp"\naddress = "127.0.0.1:{port}"\n'
        f'[[upstream]]\nuri = "sip:127.0.0.1:{pbx_port}"\n'
        # SIPp carries no credentials: the caller is a trusted peer (the guards still run).
        '[acl]\ntrusted = ["127.0.0.0/8"]\n'
    )
    return [sys.executable, "-m", "sipguard", "run", "--config", str(config)], "sipguard started"


def run_one(element: str, scenario: str, calls: int, rate: int) -> Result:
    """Carry ``calls`` of ``scenario`` through ``element`` and measure it."""
    uac, uas = SCENARIOS[scenario]
    port, pbx_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        cmd, ready = element_command(element, port, pbx_port, workdir)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with (
            process(sipp(uas, pbx_port, remote=None, calls=calls, rate=rate), cwd=tmp) as pbx,
            process(cmd, ready, cwd=tmp, env=env) as proxy,
        ):
            before = cpu_seconds(proxy.pid)
            started = time.monotonic()
            caller = subprocess.run(
                [*sipp(uac, free_port(), remote=f"127.0.0.1:{port}", calls=calls, rate=rate),
                 "-timeout", "300s", "-trace_stat", "-stf", "stats.csv"],
                cwd=tmp, capture_output=True, text=True, timeout=330, check=False,
            )  # fmt: skip
            seconds = time.monotonic() - started
            cpu = cpu_seconds(proxy.pid) - before
            pbx.wait(10)
            failed = _failed_calls(workdir / "stats.csv", caller.returncode, calls)
    return Result(element, scenario, calls, failed, seconds, cpu / calls * 1e6, calls / seconds)


def _failed_calls(stats: Path, returncode: int, calls: int) -> int:
    # SIPp exits 0 only when every call succeeded; its stat file says how many failed.
    if returncode == 0:
        return 0
    try:
        rows = stats.read_text().splitlines()
        header, last = rows[0].split(";"), rows[-1].split(";")
        return int(last[header.index("FailedCall(C)")])
    except (OSError, ValueError, IndexError):
        return calls


def main() -> int:
    """Run every element over both scenarios, interleaved, and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rate", type=int, default=200, help="calls (or OPTIONS) per second")
    ap.add_argument("--element", action="append", choices=("relay", "sipguard"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    elements = args.element or ["relay", "sipguard"]
    results = [
        run_one(element, scenario, args.calls, args.rate)
        for scenario in SCENARIOS
        for element in elements
    ]
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
        return 0 if all(r.failed == 0 for r in results) else 1
    print(f"bench/sipp_edge.py: {args.calls} per scenario at {args.rate}/s, UDP on 127.0.0.1")
    head = f"{'element':10} {'scenario':9} {'failed':>7} {'seconds':>8} {'calls/s':>8}"
    print(f"{head} {'CPU µs/call':>12}")
    for r in results:
        print(
            f"{r.element:10} {r.scenario:9} {r.failed:7d} {r.seconds:8.2f} "
            f"{r.calls_per_second:8.1f} {r.cpu_us_per_call:12.1f}"
        )
    by = {(r.element, r.scenario): r for r in results}
    for scenario in SCENARIOS:
        ref, guard = by.get(("relay", scenario)), by.get(("sipguard", scenario))
        if ref and guard:
            ratio = guard.cpu_us_per_call / ref.cpu_us_per_call
            print(f"{scenario}: sipguard CPU per call / relay CPU per call = {ratio:.2f}")
    return 0 if all(r.failed == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
