#!/usr/bin/python3
"""Runs the benchmark scenarios S1-S8, each against a baseline measured in
the same run, and writes a Markdown table (bench/RESULTS.md).

bench/run_all.sh builds the binaries and calls this; see bench/README.md.
The machine is small and shared, so every figure is a ratio against a
baseline measured minutes apart on the same machine, each measurement is
repeated (--repeats) and the medians are compared, the product and the
baseline alternate, and a pair measured while something else used the CPU
(another engineer's build) is measured again.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

# ---------------------------------------------------------------------------
# Sizes: full runs and --quick (seconds per scenario, for the smoke test).

FULL = dict(
    warmup="1s", duration="6s", repeats=3,
    s1_users=1_000_000, s2_users=100_000, s2_big=100_000, s2_small=2_000,
    s2_redis_big=100_000, s3_users=1_000_000, s4_sessions=1_000_000,
    s4_one_session_runs=5, s4_live=100_000, s4_expiring=1_000_000,
    s5_watchers=1000, s5_duration="5s", s6_users=10_000, s6_channels=10_000,
    s6_rate=10_000, s6_churn_users=100_000, s7_grid=1000, s7_where_grid=100,
    s7_memory_users=20_000, s8_batch=1000, calibrate_users=100_000,
)
QUICK = dict(
    warmup="0.2s", duration="0.5s", repeats=1,
    s1_users=5_000, s2_users=2_000, s2_big=5_000, s2_small=2_000,
    s2_redis_big=3_000, s3_users=2_000, s4_sessions=20_000,
    s4_one_session_runs=0, s4_live=2_000, s4_expiring=30_000,
    s5_watchers=50, s5_duration="0.5s", s6_users=300, s6_channels=1_000,
    s6_rate=2_000, s6_churn_users=5_000, s7_grid=30, s7_where_grid=10,
    s7_memory_users=500, s8_batch=100, calibrate_users=2_000,
)

CLIENT = ["--threads=2", "--connections=4"]
# Other processes may use this much CPU (cores) during a measurement before
# it is repeated (up to --attempts times).
FOREIGN_CPU_LIMIT = 0.25
# How long to wait for the machine to become idle before a round.
QUIET_WAIT_S = 10


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr,
          flush=True)


# ---------------------------------------------------------------------------
# Processes.

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process whose stderr says 'listening on <host>:<port>'."""

    def __init__(self, argv, name):
        self.name = name
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        self.address = None
        # presence_server with --metrics_address logs this before listening.
        self.metrics_url = None
        self.tail = []
        deadline = time.time() + 60
        for line in self.proc.stderr:
            self.tail = (self.tail + [line.rstrip()])[-20:]
            match = re.search(r"metrics on (http://\S+/metrics)", line)
            if match:
                self.metrics_url = match.group(1)
            match = re.search(r"listening on (\S+)", line)
            if match:
                self.address = match.group(1)
                break
            if time.time() > deadline:
                break
        if self.address is None:
            self.stop()
            raise RuntimeError(f"{name} did not start: {' '.join(argv)}\n" +
                               "\n".join(self.tail))
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.tail = (self.tail + [line.rstrip()])[-20:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def handling_buckets(server, method):
    """The server's own histogram of `method`'s handling time (request
    parsed to answer given: grpc_server_handling_seconds): {bound in µs:
    cumulative count}."""
    with urllib.request.urlopen(server.metrics_url, timeout=10) as answer:
        text = answer.read().decode()
    pattern = re.compile(
        r'^grpc_server_handling_seconds_bucket\{grpc_service="[^"]*",'
        r'grpc_method="' + re.escape(method) + r'",le="([^"]+)"\} (\d+)$',
        re.M)
    return {(math.inf if le == "+Inf" else float(le) * 1e6): int(count)
            for le, count in pattern.findall(text)}


def bucket_quantile(before, after, q):
    """The q-quantile (µs) of the calls counted between two snapshots of
    handling_buckets, interpolated within its bucket as Prometheus's
    histogram_quantile does; None without calls."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    rank = q * counts[-1]
    lower, below = 0.0, 0
    for bound, count in zip(bounds, counts):
        if count >= rank:
            if math.isinf(bound):
                return lower
            within = count - below
            return lower + (bound - lower) * ((rank - below) / within
                                              if within else 1.0)
        lower, below = bound, count
    return lower


class Redis:
    """A private redis-server on a free port, without persistence."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.url = f"redis://127.0.0.1:{self.port}"
        for _ in range(200):
            if self.cli("PING").strip() == "PONG":
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not answer")

    def cli(self, *args):
        result = subprocess.run(["redis-cli", "-p", str(self.port), *args],
                                capture_output=True, text=True)
        return result.stdout

    def used_memory(self):
        match = re.search(r"used_memory:(\d+)", self.cli("INFO", "memory"))
        return int(match.group(1)) if match else 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def proc_cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds():
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / os.sysconf(
        "SC_CLK_TCK")


def wait_until_quiet(max_wait):
    """Waits (up to max_wait s) until the machine is mostly idle: our servers
    are idle between measurements, so what runs is someone else's."""
    deadline = time.time() + max_wait
    while True:
        before = machine_busy_seconds()
        time.sleep(0.5)
        busy = (machine_busy_seconds() - before) / 0.5
        if busy < FOREIGN_CPU_LIMIT or time.time() > deadline:
            return busy


# ---------------------------------------------------------------------------
# Measurements.

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def paired(runs, a, b, key, combine=ratio):
    """The median over repeats of combine(key(a's report), key(b's report)):
    each pair was measured back to back, so a slow stretch of the machine
    weighs on both sides of a pair alike."""
    return median([combine(key(x), key(y)) for x, y in zip(runs[a], runs[b])])


class Bench:
    def __init__(self, args):
        self.args = args
        self.sizes = dict(QUICK if args.quick else FULL)
        if args.repeats:
            self.sizes["repeats"] = args.repeats
        self.bin = lambda name: os.path.join(args.bin_dir, name)
        self.rows = []        # the summary table
        self.details = {}     # scenario -> list of lines
        self.retries = 0
        self.rounds = 0       # measurement rounds kept
        self.busy_rounds = 0  # of which other processes used the CPU
        self.max_foreign = 0.0
        self.t0 = time.time()
        self.echo_api = {"unary": "cq", "stream": "cq"}

    # -- helpers ------------------------------------------------------------

    def detail(self, scenario, line):
        self.details.setdefault(scenario, []).append(line)

    def row(self, scenario, measure, product, baseline, ratio_value, target,
            met, unit=""):
        self.rows.append(dict(scenario=scenario, measure=measure,
                              product=product, baseline=baseline,
                              ratio=ratio_value, target=target, met=met,
                              unit=unit))

    def product(self, *flags, name="presence_server"):
        return Server([self.bin("service/presence_server"),
                       "--listen_address=127.0.0.1:0", *flags], name)

    def echo(self, api, *flags):
        return Server([self.bin("bench/echo_server"), f"--api={api}", *flags],
                      f"echo_server ({api})")

    def loadgen(self, server, *flags, label="", aux=(), check=True):
        argv = [self.bin("bench/load_generator"), f"--target={server.address}",
                f"--server_pid={server.pid}", f"--label={label}", *CLIENT,
                *flags]
        if aux:
            argv.append("--aux_pids=" + ",".join(str(p) for p in aux))
        result = subprocess.run(argv, capture_output=True, text=True,
                                timeout=3600)
        lines = [l for l in result.stdout.splitlines() if l.startswith("{")]
        if not lines:
            raise RuntimeError(f"load_generator failed ({label}): "
                               f"{result.stderr[-2000:]}")
        report = json.loads(lines[-1])
        summary = result.stderr.strip().splitlines()
        log(f"  {summary[-1] if summary else label}")
        if check and report.get("error"):
            raise RuntimeError(f"{label}: {report['error']}")
        return report

    def may_retry(self):
        """Waiting for an idle machine and measuring again are for the first
        70% of --budget_minutes: past that, rounds are kept as measured (and
        counted in RESULTS.md), so that a run on a machine others keep busy
        still ends in time."""
        if self.args.quick:
            return False
        return time.time() - self.t0 < 0.7 * 60 * self.args.budget_minutes

    def wait_quiet(self):
        if self.may_retry():
            wait_until_quiet(QUIET_WAIT_S)

    def foreign(self, report):
        """CPU (cores) used during a window by processes other than ours."""
        used = report.get("client", {}).get("cores", 0)
        used += report.get("server", {}).get("cores", 0)
        used += sum(a.get("cores", 0) for a in report.get("aux", []))
        return max(0.0, report.get("machine_busy_cores", 0) - used)

    def measure(self, runs):
        """Runs `runs` (name -> callable returning a report) in turn,
        alternating the order each repeat; repeats a round whose windows
        shared the CPU with another process. Returns name -> [reports]."""
        out = {name: [] for name in runs}
        names = list(runs)
        for repeat in range(self.sizes["repeats"]):
            order = names if repeat % 2 == 0 else names[::-1]
            for attempt in range(self.args.attempts):
                self.wait_quiet()
                reports = {name: runs[name]() for name in order}
                worst = max(self.foreign(r) for r in reports.values())
                if (worst <= FOREIGN_CPU_LIMIT or
                        attempt == self.args.attempts - 1 or
                        not self.may_retry()):
                    break
                self.retries += 1
                log(f"  other processes used {worst:.2f} cores; measuring "
                    "again")
            self.rounds += 1
            if worst > FOREIGN_CPU_LIMIT:
                self.busy_rounds += 1
            self.max_foreign = max(self.max_foreign, worst)
            for name, report in reports.items():
                out[name].append(report)
        return out

    # -- scenarios -------------------------------------------------------------

    def unary_flags(self, *extra):
        return [f"--warmup={self.sizes['warmup']}",
                f"--duration={self.sizes['duration']}", *extra]

    def calibrate(self):
        """Which echo API is faster here: completion queues or callbacks."""
        log("baseline: echo_server, completion queues vs callbacks")
        users = self.sizes["calibrate_users"]
        results = {}
        servers = {api: self.echo(api, "--here_now_occupancy=15")
                   for api in ("cq", "callback")}
        try:
            unary = self.measure({
                api: (lambda s=server: self.loadgen(
                    s, *self.unary_flags("--prefill=false", f"--users={users}",
                                         f"--channels={users // 5}",
                                         "--mix=heartbeat:100",
                                         "--concurrency=64"),
                    label=f"echo {s.name} unary"))
                for api, server in servers.items()})
            stream = self.measure({
                api: (lambda s=server: self.loadgen(
                    s, "--mode=fanout", "--prefill=false",
                    f"--watchers={self.sizes['s5_watchers']}",
                    "--fanout_slots=16", f"--warmup={self.sizes['warmup']}",
                    f"--duration={self.sizes['s5_duration']}",
                    label=f"echo {s.name} stream"))
                for api, server in servers.items()})
        finally:
            for server in servers.values():
                server.stop()
        for kind, reports, key in (
                ("unary", unary, lambda r: r["lanes"]["main"]["qps"]),
                ("stream", stream,
                 lambda r: r["fanout"]["deliveries_per_s"])):
            values = {api: median([key(r) for r in reports[api]])
                      for api in reports}
            best = max(values, key=values.get)
            self.echo_api[kind] = best
            results[kind] = values
            self.detail("Baseline", (
                f"echo_server {kind}: completion queues "
                f"{values['cq']:,.0f}/s, callback {values['callback']:,.0f}/s "
                f"(medians of {self.sizes['repeats']}) → baseline uses "
                f"**{best}**" + (" (calls/s)" if kind == "unary" else
                                 " (event deliveries/s)")))
        return results

    def s1_and_s8(self):
        sizes = self.sizes
        users = sizes["s1_users"]
        workload = [f"--users={users}", f"--channels={users // 5}",
                    "--channels_per_user=1-5"]
        log(f"S1: Heartbeat with {users:,} users live")
        product = self.product()
        echo = self.echo(self.echo_api["unary"], "--here_now_occupancy=15",
                         "--where_now_channels=3")
        try:
            prefill = self.loadgen(product, *workload, "--duration=0s",
                                   "--warmup=0s", label="S1 prefill")
            # 1-5 channels per user: 3 memberships per call on average.
            self.prefill_memberships_rate = 3 * users / max(
                prefill["prefill"]["prefill"]["seconds"], 1e-3)
            self.detail("S1", f"prefill: {users:,} users (1-5 channels each, "
                        f"{users // 5:,} channels) in "
                        f"{prefill['prefill']['prefill']['seconds']:.1f} s")
            no_prefill = [*workload, "--prefill=false"]
            for mix, name in (("heartbeat:100", "Heartbeat"),
                              ("heartbeat:90,here_now:5,where_now:5",
                               "mix 90/5/5")):
                flags = self.unary_flags(*no_prefill, f"--mix={mix}",
                                         "--concurrency=64")
                runs = self.measure({
                    "product": lambda: self.loadgen(product, *flags,
                                                    label=f"S1 {name} product"),
                    "echo": lambda: self.loadgen(echo, *flags,
                                                 label=f"S1 {name} echo")})
                self.unary_rows("S1", name, runs, qps_target=0.9,
                                p99_target=1.2)
            rss = runs["product"][-1].get("server_vmhwm_kb", 0) / 1024
            self.detail("S1", f"presence_server peak RSS with {users:,} users "
                        f"live: {rss:,.0f} MB (echo_server: "
                        f"{runs['echo'][-1].get('server_vmhwm_kb', 0) / 1024:,.0f}"
                        " MB)")
            self.s8(product, echo, workload)
        finally:
            product.stop()
            echo.stop()

    def unary_rows(self, scenario, name, runs, qps_target=None,
                   p99_target=None):
        lane = lambda r: r["lanes"]["main"]
        qps = {k: median([lane(r)["qps"] for r in v]) for k, v in runs.items()}
        p99 = {k: median([lane(r)["p99_us"] for r in v])
               for k, v in runs.items()}
        cpu = {k: median([r.get("server", {}).get("cpu_us_per_op")
                          for r in v]) for k, v in runs.items()}
        q = paired(runs, "product", "echo", lambda r: lane(r)["qps"])
        self.row(scenario, f"{name} calls/s", qps["product"], qps["echo"], q,
                 f"≥ {qps_target}×" if qps_target else "",
                 None if qps_target is None or q is None else q >= qps_target)
        p = paired(runs, "product", "echo", lambda r: lane(r)["p99_us"])
        self.row(scenario, f"{name} p99 latency (µs)", p99["product"],
                 p99["echo"], p,
                 f"≤ {p99_target}×" if p99_target else "",
                 None if p99_target is None or p is None else p <= p99_target)
        self.detail(scenario, (
            f"{name}: per repeat, product/echo calls/s " + ", ".join(
                f"{a['lanes']['main']['qps']:,.0f}/{b['lanes']['main']['qps']:,.0f}"
                for a, b in zip(runs["product"], runs["echo"])) +
            f"; server CPU per call {fmt(cpu['product'])} µs vs "
            f"{fmt(cpu['echo'])} µs (echo)"))

    def s8(self, product, echo, workload):
        sizes = self.sizes
        batch = sizes["s8_batch"]
        log("S8: batch heartbeats")
        flags = self.unary_flags(*workload, "--prefill=false", "--mix=batch:100",
                                 f"--batch_size={batch}", "--concurrency=4")
        results = self.measure({
            "product": lambda: self.loadgen(product, *flags,
                                            label="S8 product"),
            "echo": lambda: self.loadgen(echo, *flags, label="S8 echo")})
        rate = lambda r: r["batch"]["entries_per_s"]
        product_rate = median([rate(r) for r in results["product"]])
        echo_rate = median([rate(r) for r in results["echo"]])
        failed = sum(r["batch"]["entries_failed"] for r in results["product"])
        self.row("S8", f"user-heartbeats/s, BatchHeartbeat of {batch}",
                 product_rate, echo_rate,
                 paired(results, "product", "echo", rate), "≥ 1,000,000/s",
                 product_rate >= 1_000_000 and failed == 0)
        cpu = {k: median([r.get("server", {}).get("cpu_us_per_op")
                          for r in v]) for k, v in results.items()}
        self.detail("S8", (
            f"BatchHeartbeat, {batch} users per call, 4 calls in flight: "
            f"{fmt(product_rate)} vs {fmt(echo_rate)} entries/s (echo parses "
            f"each entry and answers OK); {failed} entries failed; server CPU "
            f"per call {fmt(cpu['product'])} µs vs {fmt(cpu['echo'])} µs"))

    def s2(self):
        sizes = self.sizes
        users, big = sizes["s2_users"], sizes["s2_big"]
        log(f"S2: HereNow on a {big:,}-member channel")
        workload = [f"--users={users}", f"--channels={users // 5}",
                    f"--big_channel_members={big}"]
        # Metrics on: the server's own handling-time histogram.
        product = self.product("--metrics_address=127.0.0.1:0")
        echo = self.echo(self.echo_api["unary"], f"--here_now_occupancy={big}")
        try:
            self.loadgen(product, *workload, "--duration=0s", "--warmup=0s",
                         label="S2 prefill")
            base = [*workload, "--prefill=false"]
            # Occupancy only, one call at a time: latency is service time.
            flags = self.unary_flags(*base, "--mix=here_now_count:100",
                                     "--concurrency=1")
            runs = self.pair(product, echo, flags, "S2 occupancy",
                             method="HereNow")
            self.server_time_row("S2", "occupancy-only HereNow", runs, 100)
            # A 1,000-occupant page at a random offset.
            flags = self.unary_flags(*base, "--mix=here_now_page:100",
                                     "--concurrency=1", "--page_size=1000")
            runs = self.pair(product, echo, flags, "S2 page")
            p50 = {k: median([r["lanes"]["main"]["p50_us"] for r in v])
                   for k, v in runs.items()}
            self.row("S2", "1,000-occupant page, random offset: p50 (µs)",
                     p50["product"], p50["echo"],
                     paired(runs, "product", "echo",
                            lambda r: r["lanes"]["main"]["p50_us"]),
                     "≤ 2,000 µs",
                     p50["product"] <= 2000)
            # Heartbeat load alone, then with a client reading a page every
            # 20 ms (a dashboard paging through the channel).
            alone = self.unary_flags(*base, "--mix=heartbeat:100",
                                     "--concurrency=64")
            paging = [*alone, "--probe_mix=here_now_page:100",
                      "--probe_concurrency=1", "--probe_rate=50",
                      "--page_size=1000"]
            for server, name in ((product, "product"), (echo, "echo")):
                runs = self.measure({
                    "alone": lambda s=server: self.loadgen(
                        s, *alone, label=f"S2 {name} heartbeats alone"),
                    "paging": lambda s=server: self.loadgen(
                        s, *paging, label=f"S2 {name} heartbeats + pages")})
                qps = {k: median([r["lanes"]["main"]["qps"] for r in v])
                       for k, v in runs.items()}
                pages = median([r["lanes"]["probe"]["qps"]
                                for r in runs["paging"]])
                q = paired(runs, "paging", "alone",
                           lambda r: r["lanes"]["main"]["qps"])
                if name == "product":
                    self.row("S2", "Heartbeat calls/s with 50 pages/s "
                             "alongside / alone",
                             qps["paging"], qps["alone"], q, "≥ 0.9×",
                             q is not None and q >= 0.9)
                self.detail("S2", (
                    f"{name}: heartbeats {qps['alone']:,.0f}/s alone, "
                    f"{qps['paging']:,.0f}/s alongside {pages:,.0f} pages/s "
                    f"(ratio {fmt(q)})"))
        finally:
            product.stop()
            echo.stop()
        self.s2_redis()

    def s2_redis(self):
        sizes = self.sizes
        big, small = sizes["s2_redis_big"], sizes["s2_small"]
        log(f"S2: Redis store pages ({big:,} vs {small:,} members)")
        redis = Redis()
        product = self.product("--store=redis", f"--redis_url={redis.url}")
        echo = self.echo(self.echo_api["unary"], f"--here_now_occupancy={big}")
        try:
            channels = {"big": ("big-000000000000", big),
                        "small": ("small-000000000000", small)}
            for channel, members in channels.values():
                self.loadgen(product, "--users=0", f"--big_channel={channel}",
                             f"--big_channel_members={members}",
                             "--duration=0s", "--warmup=0s",
                             label=f"S2 redis prefill {channel}",
                             aux=[redis.pid])

            def page(server, key, label):
                channel, members = channels[key]
                return self.loadgen(
                    server, *self.unary_flags(
                        "--users=0", "--prefill=false",
                        f"--big_channel={channel}",
                        f"--big_channel_members={members}",
                        "--mix=here_now_page:100", "--concurrency=1",
                        "--page_size=1000"),
                    label=label, aux=[redis.pid])

            runs = self.measure({
                "big": lambda: page(product, "big", "S2 redis page big"),
                "small": lambda: page(product, "small", "S2 redis page small"),
                "echo": lambda: page(echo, "big", "S2 redis page echo")})
            p50 = {k: median([r["lanes"]["main"]["p50_us"] for r in v])
                   for k, v in runs.items()}
            self.row("S2", f"Redis store: 1,000-occupant page p50 (µs), "
                     f"{big:,} members", p50["big"], p50["echo"],
                     paired(runs, "big", "echo",
                            lambda r: r["lanes"]["main"]["p50_us"]),
                     "≤ 2,000 µs",
                     p50["big"] <= 2000)
            q = paired(runs, "big", "small",
                       lambda r: r["lanes"]["main"]["p50_us"])
            self.row("S2", f"Redis store: page p50, {big:,} vs {small:,} "
                     "members (bounded by the page)", p50["big"], p50["small"],
                     q, "≈ 1×", None)
        finally:
            product.stop()
            echo.stop()
            redis.stop()

    def pair(self, product, echo, flags, label, aux=(), method=None):
        """With `method`, each product report also gets "server_buckets":
        the product's handling-time histogram of `method` before and after
        the run (the product must have been started with metrics)."""
        def run_product():
            before = handling_buckets(product, method) if method else None
            report = self.loadgen(product, *flags, label=f"{label} product",
                                  aux=aux)
            if method:
                report["server_buckets"] = (before,
                                            handling_buckets(product, method))
            return report
        return self.measure({
            "product": run_product,
            "echo": lambda: self.loadgen(echo, *flags, label=f"{label} echo")})

    def server_time_row(self, scenario, name, runs, limit_us, lane="main"):
        """Server time, measured two ways: the server's own handling-time
        histogram (request parsed to answer given; what the target is judged
        on), and the client's latency at one call in flight minus the
        echo's (which adds the machine's scheduling noise at p99)."""
        get = lambda key: {k: median([r["lanes"][lane][key] for r in v])
                           for k, v in runs.items()}
        p50, p99 = get("p50_us"), get("p99_us")
        key = lambda r: r["lanes"][lane]["p99_us"]
        extra99 = paired(runs, "product", "echo", key,
                         combine=lambda a, b: a - b)
        extra50 = paired(runs, "product", "echo",
                         lambda r: r["lanes"][lane]["p50_us"],
                         combine=lambda a, b: a - b)
        own = lambda q: median([bucket_quantile(*r["server_buckets"], q)
                                for r in runs["product"]])
        own50, own99 = own(0.5), own(0.99)
        self.row(scenario, f"{name}: p99 latency (µs); server time p99 "
                 f"{fmt(own99)} µs (the server's own histogram), product − "
                 f"echo {extra99:,.0f} µs", p99["product"], p99["echo"],
                 paired(runs, "product", "echo", key),
                 f"≤ {limit_us} µs server time",
                 own99 is not None and own99 <= limit_us)
        self.detail(scenario, (
            f"{name}, one call in flight: server's handling time "
            f"(grpc_server_handling_seconds, median over repeats, interpolated "
            f"within its bucket as histogram_quantile does) p50 "
            f"{fmt(own50)} µs, p99 {fmt(own99)} µs; client latency p50 "
            f"{p50['product']:,.0f} µs vs {p50['echo']:,.0f} µs (echo), p99 "
            f"{p99['product']:,.0f} µs vs {p99['echo']:,.0f} µs; product − "
            f"echo (paired medians) p50 {extra50:,.0f} µs, p99 "
            f"{extra99:,.0f} µs"))

    def s3(self):
        users = self.sizes["s3_users"]
        log(f"S3: memory per membership, {users * 10:,} memberships")
        result = subprocess.run(
            [self.bin("bench/memory_per_membership"), f"--users={users}",
             "--channels=10", "--redis=false"],
            capture_output=True, text=True, timeout=3600, check=True)
        match = re.search(r"memory store: ([\d.]+) bytes/membership; baseline "
                          r"[^\d]*([\d.]+) bytes/entry; ratio ([\d.]+)",
                          result.stdout)
        if not match:
            raise RuntimeError("memory_per_membership: " + result.stdout)
        product, baseline, r = (float(g) for g in match.groups())
        self.row("S3", f"embedded store bytes per membership "
                 f"({users * 10:,} memberships)", product, baseline, r,
                 "≤ 24 B", product <= 24)
        self.detail("S3", "memory_per_membership (heap bytes, mallinfo2; "
                    "deterministic, so run once): " + result.stdout.strip() +
                    ". Baseline: std::unordered_map<string, string> holding "
                    "the same channel/user keys.")

    def s4(self):
        sizes = self.sizes
        sessions = sizes["s4_sessions"]
        log(f"S4: timeout lag with {sessions:,} sessions")
        pattern = re.compile(
            r"timeout lag p50 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms "
            r"\((\d+) events; early: (\w+)\); baseline 1 session ([\d.]+) ms")

        def lag(n):
            result = subprocess.run(
                [self.bin("bench/timeout_lag"), f"--sessions={n}",
                 "--store=memory"], capture_output=True, text=True,
                timeout=3600, check=True)
            match = pattern.search(result.stdout)
            if not match:
                raise RuntimeError("timeout_lag: " + result.stdout)
            p50, p99, worst, events, early, base = match.groups()
            log(f"  timeout_lag --sessions={n}: p99 {p99} ms, one session "
                f"{base} ms, early: {early}")
            return dict(p50=float(p50), p99=float(p99), max=float(worst),
                        events=int(events), early=early != "none",
                        base=float(base))

        many = [lag(sessions) for _ in range(sizes["repeats"])]
        # One-session lags: each run of the tool gives two (its baseline and
        # its "many" of one).
        singles = [m["base"] for m in many]
        for _ in range(sizes["s4_one_session_runs"]):
            one = lag(1)
            singles += [one["base"], one["p50"]]
        p99 = median([m["p99"] for m in many])
        single_worst = max(singles)
        early = any(m["early"] for m in many)
        r = ratio(p99, single_worst)
        self.row("S4", f"timeout lag p99 (ms), {sessions:,} sessions vs one "
                 "session", p99, single_worst, r, "≤ 1.5×, never early",
                 r is not None and r <= 1.5 and not early)
        self.detail("S4", (
            f"timeout_lag: {sessions:,} sessions expiring over 2 s, p50 "
            f"{median([m['p50'] for m in many]):.1f} ms, p99 {p99:.1f} ms, "
            f"max {max(m['max'] for m in many):.1f} ms, early: "
            f"{'YES' if early else 'none'}. One-session lags "
            f"({len(singles)} samples): " +
            ", ".join(f"{s:.1f}" for s in sorted(singles)) +
            " ms; the baseline is their maximum (a single session's lag is "
            "uniform over the sweep period, so its p99 is about the max). "
            "The tool's own ratio, p99 / one sample, is "
            f"{fmt(median([m['p99'] / max(m['base'], 0.001) for m in many]))}."))
        self.s4_expiry()

    def s4_expiry(self):
        sizes = self.sizes
        live, memberships = sizes["s4_live"], sizes["s4_expiring"]
        per_user = 10
        if self.args.quick:
            timeout = 3
        else:
            # All expiring memberships fall due `timeout` s after their
            # prefill begins, which must be over by then: twice the time S1's
            # prefill rate (memberships/s) predicts, and 10 s of load.
            rate = getattr(self, "prefill_memberships_rate", 30_000)
            timeout = min(300, max(20, math.ceil(2 * memberships / rate) + 10))
        log(f"S4: Heartbeat load while {memberships:,} memberships expire at "
            "once")
        product = self.product("--min_timeout_seconds=1")
        try:
            reports = []
            for repeat in range(sizes["repeats"]):
                for _ in range(2):
                    self.wait_quiet()
                    report = self.loadgen(
                        product, f"--users={live}", f"--channels={live // 5}",
                        f"--prefill={'true' if repeat == 0 else 'false'}",
                        f"--expiring_users={memberships // per_user}",
                        f"--expiring_channels_per_user={per_user}",
                        "--expiring_channels=1000",
                        f"--expiring_timeout={timeout}", "--mix=heartbeat:100",
                        "--concurrency=64",
                        f"--warmup={'0.3s' if self.args.quick else '1s'}",
                        label="S4 expiry", check=False)
                    if "too short" not in report.get("error", ""):
                        break
                    timeout *= 2  # The prefill was slower than predicted.
                if report.get("error"):
                    raise RuntimeError(f"S4 expiry: {report['error']}")
                reports.append(report)
                expiry = report["expiry"]
                self.max_foreign = max(self.max_foreign, self.foreign(report))
                self.detail("S4", (
                    f"mass expiry: {memberships:,} memberships "
                    f"({memberships // per_user:,} users × {per_user} "
                    "channels) due within the same second; all gone "
                    f"{expiry['expired_in_s']:.1f} s after it; heartbeats "
                    f"{expiry['qps_before']:,.0f}/s before, "
                    f"{expiry['qps_during']:,.0f}/s during (ratio "
                    f"{fmt(expiry['ratio'] if expiry['ratio'] >= 0 else None)}); "
                    f"{report.get('expiring_remaining')} left present after"))
            get = lambda key: median([
                r["expiry"][key] if r["expiry"]["ratio"] >= 0 else None
                for r in reports])
            r = get("ratio")
            self.row("S4", f"Heartbeat calls/s during / before {memberships:,} "
                     "memberships expire at once", get("qps_during"),
                     get("qps_before"), r, "≥ 0.8×",
                     r is not None and r >= 0.8)
        finally:
            product.stop()

    def s5(self):
        sizes = self.sizes
        watchers = sizes["s5_watchers"]
        log(f"S5: event fan-out to {watchers:,} watchers")
        product = self.product()
        echo = self.echo(self.echo_api["stream"])
        try:
            for slots, name in ((1, "latency"), (16, "throughput")):
                flags = ["--mode=fanout", "--prefill=false",
                         f"--watchers={watchers}", f"--fanout_slots={slots}",
                         f"--warmup={sizes['warmup']}",
                         f"--duration={sizes['s5_duration']}"]
                runs = self.pair(product, echo, flags, f"S5 {name}")
                get = lambda key: {k: median([r["fanout"][key] for r in v])
                                   for k, v in runs.items()}
                if slots == 1:
                    p50, p99 = get("p50_us"), get("p99_us")
                    self.row("S5", f"change → receive p99 (µs), one change at "
                             f"a time, {watchers:,} watchers", p99["product"],
                             p99["echo"], paired(runs, "product", "echo",
                                                 lambda r: r["fanout"]["p99_us"]),
                             "≤ 5,000 µs", p99["product"] <= 5000)
                    self.detail("S5", (
                        f"one change in flight: p50 {p50['product']:,.0f} µs "
                        f"vs {p50['echo']:,.0f} µs (echo); p99 "
                        f"{p99['product']:,.0f} µs vs {p99['echo']:,.0f} µs"))
                else:
                    rate = get("deliveries_per_s")
                    p99 = get("p99_us")
                    self.row("S5", f"event deliveries/s, {slots} changes in "
                             "flight", rate["product"], rate["echo"],
                             paired(runs, "product", "echo",
                                    lambda r: r["fanout"]["deliveries_per_s"]),
                             "≥ 250,000/s", rate["product"] >= 250_000)
                    self.detail("S5", (
                        f"{slots} changes in flight: {rate['product']:,.0f} vs "
                        f"{rate['echo']:,.0f} deliveries/s (echo); change → "
                        f"receive p99 {p99['product']:,.0f} µs vs "
                        f"{p99['echo']:,.0f} µs (queueing)"))
        finally:
            product.stop()
            echo.stop()

    def s6(self):
        sizes = self.sizes
        users, channels = sizes["s6_users"], sizes["s6_channels"]
        rate = sizes["s6_rate"]
        log(f"S6: WhereNow (100 channels per user) under churn")
        workload = [f"--users={users}", f"--channels={channels}",
                    "--channels_per_user=100-100"]
        product = self.product("--metrics_address=127.0.0.1:0")
        echo = self.echo(self.echo_api["unary"], "--where_now_channels=100")
        try:
            self.loadgen(product, *workload, "--duration=0s", "--warmup=0s",
                         label="S6 prefill")
            flags = self.unary_flags(
                *workload, "--prefill=false", "--mix=churn:100",
                f"--rate={rate}", "--concurrency=64", "--churn_channels=10",
                f"--churn_users={sizes['s6_churn_users']}",
                "--probe_mix=where_now:100", "--probe_concurrency=1")
            runs = self.pair(product, echo, flags, "S6", method="WhereNow")
            self.server_time_row("S6", "WhereNow under churn", runs, 100,
                                 lane="probe")
            changes = {k: median([r["lanes"]["main"]["by_kind"]["churn"]
                                  ["changes_per_s"] for r in v])
                       for k, v in runs.items()}
            self.row("S6", "membership changes/s sustained alongside "
                     f"(asked: {rate * 10:,}/s)", changes["product"],
                     changes["echo"], paired(
                         runs, "product", "echo",
                         lambda r: r["lanes"]["main"]["by_kind"]["churn"]
                         ["changes_per_s"]),
                     "≥ 100,000/s", changes["product"] >= 100_000)
        finally:
            product.stop()
            echo.stop()

    def s7(self):
        sizes = self.sizes
        grid, where_grid = sizes["s7_grid"], sizes["s7_where_grid"]
        log(f"S7: Redis store vs redis-benchmark with the same script")
        redis = Redis()
        product = self.product("--store=redis", f"--redis_url={redis.url}")
        pool = 8  # presence_server's --redis_pool_size default
        try:
            main_grid = [f"--grid={grid}", "--users=0"]
            where = [f"--grid={where_grid}", "--users=0", "--user_prefix=wu-",
                     "--channel_prefix=wc-"]
            for flags in (main_grid, where):
                self.loadgen(product, *flags, "--prefill_concurrency=8",
                             "--duration=0s", "--warmup=0s",
                             label="S7 prefill", aux=[redis.pid])
            self.detail("S7", (
                f"data: {grid}×{grid} users×channels all present "
                f"({grid * grid:,} memberships) for Heartbeat and HereNow; "
                f"{where_grid}×{where_grid} for WhereNow (users in "
                f"{where_grid} channels). Each call picks its user and "
                "channel uniformly, as redis-benchmark's __rand_int__ does."))
            kinds = {
                "Heartbeat": (main_grid, ["--mix=heartbeat:100"], grid),
                f"HereNow ({min(100, grid)} of {grid:,} occupants)": (
                    main_grid, ["--mix=here_now:100", "--here_now_limit=100"],
                    grid),
                "WhereNow": (where, ["--mix=where_now:100"], where_grid),
            }
            for name, (data, mix, keyspace) in kinds.items():
                command = self.capture_script(redis, product, data + mix)
                n = self.calibrate_benchmark(redis, command, keyspace, pool)

                def bench_run():
                    return self.redis_benchmark(redis, command, keyspace, pool,
                                                n)

                flags = self.unary_flags(*data, *mix, "--prefill=false",
                                         "--concurrency=32")
                runs = self.measure({
                    "product": lambda: self.loadgen(
                        product, *flags, label=f"S7 {name} product",
                        aux=[redis.pid]),
                    "redis-benchmark": bench_run})
                qps = median([r["lanes"]["main"]["qps"]
                              for r in runs["product"]])
                rps = median([r["lanes"]["main"]["qps"]
                              for r in runs["redis-benchmark"]])
                q = paired(runs, "product", "redis-benchmark",
                           lambda r: r["lanes"]["main"]["qps"])
                target = 0.7 if name == "Heartbeat" else None
                self.row("S7", f"Redis store {name} calls/s vs redis-benchmark "
                         f"{command[0]} of the same script", qps, rps, q,
                         "≥ 0.7×" if target else "(similar)",
                         None if target is None else q >= target)
                redis_us = lambda rs: median([
                    (r["aux"][0]["cpu_us_per_op"] if r.get("aux") else None)
                    for r in rs])
                self.detail("S7", (
                    f"{name}: product {qps:,.0f}/s (gRPC concurrency 32 over "
                    f"{pool} Redis connections), redis-benchmark -c {pool} "
                    f"{rps:,.0f}/s; Redis CPU per call "
                    f"{fmt(redis_us(runs['product']))} µs vs "
                    f"{fmt(redis_us(runs['redis-benchmark']))} µs; command: "
                    f"`{' '.join(shorten(a) for a in command)}`"))
        finally:
            product.stop()
            redis.stop()
        users = sizes["s7_memory_users"]
        result = subprocess.run(
            [self.bin("bench/memory_per_membership"), f"--users={users}",
             "--channels=10"], capture_output=True, text=True, timeout=3600,
            check=True)
        match = re.search(r"redis store: ([\d.]+) bytes/membership; baseline "
                          r"one ZSET member ([\d.]+) bytes; ratio ([\d.]+)",
                          result.stdout)
        if not match:
            raise RuntimeError("memory_per_membership --redis: " +
                               result.stdout)
        product_bytes, baseline, r = (float(g) for g in match.groups())
        self.row("S7", f"Redis bytes per membership vs one ZSET member "
                 f"({users * 10:,} memberships)", product_bytes, baseline, r,
                 "≤ 2×", r <= 2)

    def capture_script(self, redis, product, flags):
        """The script call the product sends to Redis for one call of
        `flags`' kind, seen with MONITOR, with the user and channel replaced
        by redis-benchmark placeholders."""
        # To a file: MONITOR sees every command the scripts run, far more
        # than a pipe holds while nobody reads it.
        with tempfile.TemporaryFile("w+") as log_file:
            monitor = subprocess.Popen(["redis-cli", "-p", str(redis.port),
                                        "MONITOR"], stdout=log_file)
            time.sleep(0.3)
            self.loadgen(product, *flags, "--prefill=false",
                         "--concurrency=1", "--rate=20", "--warmup=0s",
                         "--duration=0.3s", label="S7 capture")
            time.sleep(0.3)
            monitor.terminate()
            monitor.wait()
            log_file.seek(0)
            output = log_file.read()
        for line in output.splitlines():
            args = [unescape(a) for a in re.findall(r'"((?:[^"\\]|\\.)*)"',
                                                     line)]
            # The store calls scripts (EVALSHA, or EVAL the first time) or
            # Redis functions (FCALL): whichever it sends is replayed.
            if len(args) < 3 or args[0].upper() not in (
                    "EVALSHA", "EVAL", "FCALL", "FCALL_RO"):
                continue
            if not any(re.fullmatch(r"(u|ch|wu|wc)-\d{12}", a) for a in args):
                continue
            return [re.sub(r"^(u|ch|wu|wc)-\d{12}$", r"\1-__rand_int__", a)
                    for a in args]
        raise RuntimeError("no script call with a user or channel seen: " +
                           output[-2000:])

    def calibrate_benchmark(self, redis, command, keyspace, pool):
        """Requests for one redis-benchmark run of about --duration."""
        seconds = float(self.sizes["duration"].rstrip("s"))
        probe = self.redis_benchmark(redis, command, keyspace, pool,
                                     2000 if self.args.quick else 5000)
        return max(1000, int(probe["lanes"]["main"]["qps"] * seconds))

    def redis_benchmark(self, redis, command, keyspace, pool, requests):
        """redis-benchmark replaying `command`; a report shaped like the load
        generator's."""
        cpu = proc_cpu_seconds(redis.pid)
        machine = machine_busy_seconds()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.time()
        result = subprocess.run(
            ["redis-benchmark", "-p", str(redis.port), "-c", str(pool), "-n",
             str(requests), "-r", str(keyspace), "--csv", *command],
            capture_output=True, text=True, timeout=3600, check=True)
        seconds = time.time() - start
        cpu = proc_cpu_seconds(redis.pid) - cpu
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        client = (after.ru_utime - children.ru_utime + after.ru_stime -
                  children.ru_stime)
        rows = [l for l in result.stdout.splitlines()
                if l.startswith('"') and not l.startswith('"test"')]
        fields = re.findall(r'"([^"]*)"', rows[-1])
        rps, p50 = float(fields[1]), float(fields[4])
        log(f"  redis-benchmark: {rps:,.0f}/s, Redis {cpu / seconds:.2f} "
            "cores")
        return {"lanes": {"main": {"qps": rps, "p50_us": p50 * 1000}},
                "machine_busy_cores": (machine_busy_seconds() - machine) /
                seconds,
                "client": {"cores": client / seconds},
                "aux": [{"cores": cpu / seconds,
                         "cpu_us_per_op": cpu * 1e6 / requests}]}

    # -- output -------------------------------------------------------------------

    def write(self, started, elapsed):
        lines = ["# Benchmark results", ""]
        lines += machine_description(self.args, started, elapsed)
        lines += [
            "", "Every figure is compared with a baseline measured in the same "
            "run on the same machine: the product (presence_server, built "
            "from the commit above) and its baseline alternate, each "
            f"measurement is repeated {self.sizes['repeats']}× and the "
            "medians are compared (ratio = product / baseline). The load "
            "generator (bench/load_generator, 2 client threads, 4 "
            "connections) runs on the same 2 cores as the server, so "
            "absolute rates are a share of this machine, not of a "
            "dedicated server; the ratios are what carries over. "
            f"{self.retries} measurement round(s) were repeated because "
            "another process (other engineers' builds) used the CPU; of the "
            f"{self.rounds} rounds kept, {self.busy_rounds} shared the CPU "
            f"with other processes (> {FOREIGN_CPU_LIMIT} cores), the most "
            f"was {self.max_foreign:.2f} cores.", "",
            "| | Measure | Product | Baseline | Ratio | Target | Met |",
            "|---|---|---:|---:|---:|---|---|"]
        for r in self.rows:
            met = {True: "yes", False: "**no**", None: "—"}[r["met"]]
            lines.append(
                f"| {r['scenario']} | {r['measure']} | {fmt(r['product'])} | "
                f"{fmt(r['baseline'])} | {fmt_ratio(r['ratio'])} | "
                f"{r['target']} | {met} |")
        lines += ["", "Baselines: S1, S2, S6, S8 echo_server (canned answers "
                  "of the same size; the faster of its two APIs); S5 "
                  "echo_server's WatchEvents pushing the same bytes; S2 "
                  "alongside and S4 expiry: the same server without the "
                  "extra load; S3 std::unordered_map; S4 lag: one session; "
                  "S7 redis-benchmark running the product's own script on "
                  "the same Redis.", "", "## Details", ""]
        for scenario, details in self.details.items():
            lines.append(f"**{scenario}**")
            lines.append("")
            lines += [f"- {d}" for d in details]
            lines.append("")
        with open(self.args.out, "w") as f:
            f.write("\n".join(lines))
        if self.args.summary:
            with open(self.args.summary, "w") as f:
                json.dump(self.rows, f, indent=1)


def shorten(arg):
    if arg == "":
        return '""'
    return arg if len(arg) <= 16 else arg[:12] + "…"


def unescape(text):
    return re.sub(r"\\(x[0-9a-fA-F]{2}|.)",
                  lambda m: chr(int(m.group(1)[1:], 16))
                  if m.group(1)[0] == "x" and len(m.group(1)) == 3
                  else {"n": "\n", "r": "\r", "t": "\t"}.get(m.group(1),
                                                             m.group(1)),
                  text)


def fmt(value):
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_ratio(value):
    return "—" if value is None else f"{value:.2f}×"


def source_state(repo):
    """The commit and the uncommitted changes, read when the run starts
    (right after run_all.sh's build): others commit during a run."""
    def run(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True,
                                  cwd=repo).stdout.strip()
        except OSError:
            return ""

    # The runner's own output is not a source of the binaries.
    dirty = "\n".join(
        line for line in run("git", "status", "--porcelain",
                             "--untracked-files=no").splitlines()
        if not line.endswith("bench/RESULTS.md"))
    return (run("git", "rev-parse", "--short=12", "HEAD") or "unknown", dirty)


def machine_description(args, started, elapsed):
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        memory = int(f.readline().split()[1]) / 1024 / 1024
    commit, dirty = args.source
    return [
        f"- Machine: {os.cpu_count()} cores ({model}), {memory:.0f} GiB, "
        f"Linux {platform.release()}",
        f"- Commit: {commit}" + (
            " with uncommitted changes in the working tree, which the "
            "binaries are built from (others' work in progress in: " +
            ", ".join(sorted({os.path.dirname(path) or path
                              for path in (line.split(maxsplit=1)[-1]
                                           for line in dirty.splitlines())}))
            + ")"
            if dirty else ""),
        f"- Date: {started:%Y-%m-%d %H:%M} UTC, {elapsed / 60:.0f} minutes",
        f"- Command: `{args.command}`",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin_dir", required=True,
                        help="where service/presence_server and bench/* are")
    parser.add_argument("--out", required=True, help="the Markdown to write")
    parser.add_argument("--summary", help="also write the rows as JSON here")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, about a second per measurement")
    parser.add_argument("--repeats", type=int, help="override the repeats")
    parser.add_argument("--budget_minutes", type=float, default=30,
                        help="stop waiting for an idle machine and measuring "
                        "busy rounds again after 70%% of this")
    parser.add_argument("--attempts", type=int, default=2,
                        help="measure a round up to this many times while "
                        "other processes use the CPU")
    parser.add_argument("--only", default="",
                        help="comma-separated scenarios, e.g. S1,S7")
    parser.add_argument("--command", default=" ".join(sys.argv),
                        help="the command line recorded in the results")
    parser.add_argument("--repo", default=".", help="for git rev-parse")
    args = parser.parse_args()
    # Stopped by a signal: unwind, so that every server started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    signal.signal(signal.SIGINT, signal.default_int_handler)

    args.source = source_state(args.repo)
    bench = Bench(args)
    only = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    wanted = lambda s: not only or s in only
    started = datetime.datetime.utcnow()
    t0 = time.time()
    bench.calibrate()
    steps = [("S1", bench.s1_and_s8), ("S2", bench.s2), ("S3", bench.s3),
             ("S4", bench.s4), ("S5", bench.s5), ("S6", bench.s6),
             ("S7", bench.s7)]
    for name, step in steps:
        if wanted(name) or (name == "S1" and wanted("S8")):
            step()
    bench.write(started, time.time() - t0)
    log(f"wrote {args.out} in {(time.time() - t0) / 60:.1f} minutes")


if __name__ == "__main__":
    main()
