#!/usr/bin/python3
"""The Redis store against Redis's own speed (S7 of bench/README.md).

For each call kind, the load generator drives presence_server --store=redis
through gRPC with N calls in flight; then redis-benchmark replays the very
function call the server sends for that kind (captured with MONITOR, user and
channel replaced by __rand_int__, so the same key shape) with N connections,
against the same Redis, in the same run. The ratio is calls/s through the
server over calls/s of redis-benchmark. Runs alternate, --repeats times.

    bazel build -c opt //service:presence_server //bench:load_generator
    bench/redis/s7_ratio.py --bin_dir=bazel-bin --repeats=2

Everything shares the machine's cores: Redis, the server and the load
generator in the product's runs; Redis and redis-benchmark in the baseline's.
"""

import argparse
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy():
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK")


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr,
          flush=True)


class Redis:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL)
        for _ in range(200):
            if self.cli("PING").strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args],
                              capture_output=True, text=True).stdout

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Server:
    def __init__(self, binary, flags):
        self.proc = subprocess.Popen(
            [binary, "--listen_address=127.0.0.1:0", *flags],
            stderr=subprocess.PIPE, text=True)
        for line in self.proc.stderr:
            match = re.search(r"listening on (\S+)", line)
            if match:
                self.address = match.group(1)
                break
        else:
            raise RuntimeError("presence_server did not start")
        # Keep reading its log so that it never blocks on a full pipe.
        subprocess.Popen(["cat"], stdin=self.proc.stderr,
                         stdout=subprocess.DEVNULL)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def loadgen(args, server, redis, *flags):
    argv = [os.path.join(args.bin_dir, "bench/load_generator"),
            f"--target={server.address}", f"--server_pid={server.proc.pid}",
            f"--aux_pids={redis.proc.pid}", "--threads=2", "--connections=4",
            *flags]
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    report = json.loads([l for l in result.stdout.splitlines()
                         if l.startswith("{")][-1])
    if report.get("error"):
        raise RuntimeError(report["error"])
    return report


def capture(args, server, redis, flags):
    """The FCALL (or EVALSHA) the server sends for one call of `flags`."""
    with tempfile.TemporaryFile("w+") as out:
        monitor = subprocess.Popen(["redis-cli", "-p", str(redis.port),
                                    "MONITOR"], stdout=out)
        time.sleep(0.3)
        loadgen(args, server, redis, *flags, "--prefill=false",
                "--concurrency=1", "--rate=20", "--warmup=0s",
                "--duration=0.3s")
        time.sleep(0.3)
        monitor.terminate()
        monitor.wait()
        out.seek(0)
        text = out.read()
    for line in text.splitlines():
        fields = re.findall(r'"((?:[^"\\]|\\.)*)"', line)
        fields = [f.encode().decode("unicode_escape") for f in fields]
        if len(fields) < 3 or fields[0].upper() not in ("FCALL", "EVALSHA"):
            continue
        if any(re.fullmatch(r"(u|ch|wu|wc)-\d{12}", f) for f in fields):
            return [re.sub(r"^(u|ch|wu|wc)-\d{12}$", r"\1-__rand_int__", f)
                    for f in fields]
    raise RuntimeError("no function call with a user or channel seen")


def redis_benchmark(redis, command, keyspace, clients, requests):
    cpu, busy, start = cpu_seconds(redis.proc.pid), machine_busy(), time.time()
    result = subprocess.run(
        ["redis-benchmark", "-p", str(redis.port), "-c", str(clients), "-n",
         str(requests), "-r", str(keyspace), "--csv", *command],
        capture_output=True, text=True, check=True)
    seconds = time.time() - start
    row = [l for l in result.stdout.splitlines()
           if l.startswith('"FCALL') or l.startswith('"EVALSHA')][-1]
    qps = float(re.findall(r'"([^"]*)"', row)[1])
    return {"qps": qps,
            "redis_us": (cpu_seconds(redis.proc.pid) - cpu) * 1e6 / requests,
            "busy": (machine_busy() - busy) / seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin_dir", default="bazel-bin")
    parser.add_argument("--grid", type=int, default=1000)
    parser.add_argument("--where_grid", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--kinds", default="heartbeat,here_now,where_now")
    parser.add_argument("--server_flags", default="",
                        help="more presence_server flags, e.g. "
                        "--redis_pool_size=2")
    args = parser.parse_args()

    redis = Redis()
    server = Server(os.path.join(args.bin_dir, "service/presence_server"),
                    ["--store=redis",
                     f"--redis_url=redis://127.0.0.1:{redis.port}",
                     *shlex.split(args.server_flags)])
    try:
        main_grid = [f"--grid={args.grid}", "--users=0"]
        where = [f"--grid={args.where_grid}", "--users=0", "--user_prefix=wu-",
                 "--channel_prefix=wc-"]
        for flags in (main_grid, where):
            loadgen(args, server, redis, *flags, "--prefill_concurrency=8",
                    "--duration=0s", "--warmup=0s")
        kinds = {
            "heartbeat": (main_grid, ["--mix=heartbeat:100"], args.grid),
            "here_now": (main_grid, ["--mix=here_now:100",
                                     "--here_now_limit=100"], args.grid),
            "where_now": (where, ["--mix=where_now:100"], args.where_grid),
        }
        seconds = float(args.duration.rstrip("s"))
        commands = {}
        print("| Kind | Run | Product calls/s | Redis µs/call | redis-benchmark "
              f"-c {args.concurrency} calls/s | Redis µs/call | Ratio |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for name in args.kinds.split(","):
            data, mix, keyspace = kinds[name]
            command = capture(args, server, redis, data + mix)
            commands[name] = command
            probe = redis_benchmark(redis, command, keyspace,
                                    args.concurrency, 5000)
            requests = max(5000, int(probe["qps"] * seconds))
            for run in range(args.repeats):
                def product():
                    report = loadgen(args, server, redis, *data, *mix,
                                     "--prefill=false",
                                     f"--concurrency={args.concurrency}",
                                     "--warmup=2s",
                                     f"--duration={args.duration}")
                    return {"qps": report["lanes"]["main"]["qps"],
                            "redis_us": report["aux"][0]["cpu_us_per_op"]}

                def baseline():
                    return redis_benchmark(redis, command, keyspace,
                                           args.concurrency, requests)

                order = [product, baseline] if run % 2 == 0 else [baseline,
                                                                  product]
                results = {f.__name__: f() for f in order}
                p, b = results["product"], results["baseline"]
                print(f"| {name} | {run + 1} | {p['qps']:,.0f} | "
                      f"{p['redis_us']:.1f} | {b['qps']:,.0f} | "
                      f"{b['redis_us']:.1f} | {p['qps'] / b['qps']:.2f} |",
                      flush=True)
        print()
        for name, command in commands.items():
            print(f"- {name}: `redis-benchmark -c {args.concurrency} -r "
                  f"{kinds[name][2]} {' '.join(shlex.quote(c) for c in command)}`")
    finally:
        server.stop()
        redis.stop()


if __name__ == "__main__":
    main()
