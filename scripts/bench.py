#!/usr/bin/env python3
"""The suite's benchmarks (called by scripts/bench): the direct scenario
rate by rate, the SUTs, and the performance targets as same-run ratios.

Each comparison runs its pairs alternated (peer, suite, peer, suite, ...)
on this machine, prints both sides, the ratio of each pair with the steal
of each run, and the median ratio. Whole-process CPU comes from the kernel
(the rusage of each process, waited for). Nothing here is a timed test:
the output is what docs/performance.md carries.
"""
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import summary  # noqa: E402  the scripts' one reader of summary.json

BIN = "target/release/brokerbench"
FLOOR = "target/release/examples/floor"
LONG_RESULTS = "target/release/examples/long_results"


def steal_ticks():
    with open("/proc/stat") as f:
        cpu = f.readline().split()[1:]
    ticks = [int(x) for x in cpu]
    return ticks[7], sum(ticks)


def steal_since(before):
    s, t = steal_ticks()
    return (s - before[0]) / max(t - before[1], 1)


def run(cmd, **kw):
    """Runs cmd to its end; returns (stdout, cpu seconds, max RSS MiB, steal)."""
    before = steal_ticks()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    out, err = p.communicate()
    # The rusage of that one child (wait4 in communicate is not exposed,
    # so children's totals are diffed around it; one child at a time).
    return p.returncode, out, err, steal_since(before)


class Child:
    """A process whose CPU and peak memory are read from its own rusage."""

    def __init__(self, cmd, **kw):
        self.before = steal_ticks()
        self.p = subprocess.Popen(cmd, **kw)

    def wait(self):
        _, status, ru = os.wait4(self.p.pid, 0)
        self.p.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_s = ru.ru_utime + ru.ru_stime
        self.rss_mib = ru.ru_maxrss / 1024
        self.steal = steal_since(self.before)
        return self


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def table(head, rows):
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---:" if i else "---" for i in range(len(head))) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()


def pct(x):
    return f"{x * 100:.1f}%"


# --- against the floor ------------------------------------------------------

def vs_floor(pairs, rate, seconds):
    """The direct scenario against the bare hyper pair: e2e P99.99 and the
    receiver's CPU per event (the floor's server thread against the
    suite's receiver threads)."""
    rows, e2e_r, recv_r = [], [], []
    for i in range(pairs):
        code, out, err, f_steal = run([FLOOR, "http", str(rate), str(seconds)])
        if code != 0:
            sys.exit(f"bench: the floor failed: {err.strip()}")
        f_e2e = float(re.search(r"e2e .*p99\.99=([\d.]+)", out).group(1))
        f_recv = float(re.search(r"receiver ([\d.]+)", out).group(1))
        with tempfile.TemporaryDirectory() as d:
            code, _, err, s_steal = run([BIN, "run", "--pace", f"{rate}:{seconds}", "--warmup-seconds", "0",
                                         "--drain-seconds", "2", "--quiet", "--no-plot", "--out", d])
            if code != 0:
                sys.exit(f"bench: the run failed: {err.strip()}")
            s = summary.latest(d)
        s_e2e = s.p("e2e")
        s_recv = s.receiver_us
        e2e_r.append(s_e2e / f_e2e)
        recv_r.append(s_recv / f_recv)
        rows.append([str(i + 1), f"{f_e2e:.2f}", f"{s_e2e:.2f}", f"{s_e2e / f_e2e:.2f}",
                     f"{f_recv:.1f}", f"{s_recv:.1f}", f"{s_recv / f_recv:.2f}",
                     f"{pct(f_steal)} / {pct(s_steal)}"])
    print(f"Direct scenario at {rate}/s for {seconds} s: the floor (`floor http {rate} {seconds}`) "
          f"against `run --pace {rate}:{seconds}`, {pairs} alternated pairs")
    print()
    table(["pair", "floor e2e P99.99 ms", "suite e2e P99.99 ms", "ratio",
           "floor receiver µs/event", "suite receiver µs/event", "ratio", "steal floor / suite"], rows)
    print(f"median ratios: e2e P99.99 {median(e2e_r):.2f}, receiver CPU per event {median(recv_r):.2f}")
    print()
    return {"e2e": median(e2e_r), "receiver": median(recv_r)}


# --- against oha ------------------------------------------------------------

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_buffer_size 64k;
  client_body_temp_path {dir};
  server {{
    listen 127.0.0.1:{port};
    keepalive_requests 1000000;
    location / {{ return 202; }}
  }}
}}
"""


def vs_oha(pairs, rate, seconds):
    """Whole-process CPU per request of `run --target` (sleeping pacer)
    against oha's, both posting 8 KiB to nginx answering 202."""
    oha = shutil.which("oha") or os.path.expanduser("~/.cargo/bin/oha")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    payload = tempfile.NamedTemporaryFile(delete=False)
    payload.write(b"x" * 8192)
    payload.close()
    d = tempfile.mkdtemp()
    port = free_port()
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(dir=d, port=port))
    server = subprocess.Popen([nginx, "-c", os.path.join(d, "nginx.conf"), "-p", d],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    url = f"http://127.0.0.1:{port}/"
    rows, ratios, fine = [], [], []
    try:
        for i in range(pairs):
            o = Child([oha, "-z", f"{seconds}s", "-q", str(rate), "--latency-correction", "-c", "64",
                       "-m", "POST", "-D", payload.name, "-T", "application/octet-stream",
                       "--no-tui", "--output-format", "json", url],
                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            out = o.p.stdout.read()
            o.wait()
            done = json.loads(out)
            o_n = sum(done.get("statusCodeDistribution", {}).values())
            o_us = o.cpu_s * 1e6 / max(o_n, 1)
            row = [str(i + 1), str(o_n), f"{o_us:.1f}"]
            # oha paces in its runtime (a sleep_until per request, on a
            # timer of 1 ms ticks); the suite's sleeping pacer wakes every
            # 200 us by default: it is run at both granularities.
            for quantum, into in (("1ms", ratios), ("200us", fine)):
                s, summ = suite_on(url, rate, seconds, quantum)
                s_n = summ.totals["accepted"]
                s_us = s.cpu_s * 1e6 / max(s_n, 1)
                lag = summ.p("pacer_lag")
                into.append(s_us / o_us)
                row += [f"{s_us:.1f}", f"{s_us / o_us:.2f}", f"{lag:.2f}"]
            row.append(f"{pct(o.steal)} / {pct(s.steal)}")
            rows.append(row)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(d, ignore_errors=True)
        os.unlink(payload.name)
    print(f"8 KiB POSTs at {rate}/s for {seconds} s to nginx answering 202: oha (`-q {rate} "
          f"--latency-correction -c 64`) against `run --target --pacer sleep`, its pacer waking at most "
          f"every 1 ms (oha's granularity) and every 200 us (its default), whole processes, "
          f"{pairs} alternated triples")
    print()
    table(["run", "oha requests", "oha CPU µs/request", "suite 1 ms CPU µs/event", "ratio",
           "pacer lag P99.99 ms", "suite 200 µs CPU µs/event", "ratio", "pacer lag P99.99 ms",
           "steal oha / suite"], rows)
    print(f"median ratio: {median(ratios):.2f} at oha's 1 ms granularity, {median(fine):.2f} at the "
          f"default 200 us")
    print()
    return {"oha": median(ratios), "oha_fine": median(fine)}


def suite_on(url, rate, seconds, quantum):
    """One `run --target url` with the sleeping pacer at `quantum`; the
    process (its rusage) and the run's summary."""
    with tempfile.TemporaryDirectory() as rd:
        # nginx forwards nothing: the run's receiver (on a port of its own)
        # idles, and every event counts as lost.
        s = Child([BIN, "run", "--target", url, "--receiver-listen", f"127.0.0.1:{free_port()}",
                   "--pace", f"{rate}:{seconds}", "--pacer", "sleep", "--pacer-quantum", quantum,
                   "--warmup-seconds", "0", "--drain-seconds", "1", "--quiet", "--no-plot",
                   "--out", rd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        s.wait()
        summ = summary.latest(rd)
    if summ.totals["failed"]:
        sys.exit(f"bench: the suite's run had {summ.totals['failed']} failures: not comparable")
    return s, summ


# --- the SUTs' highest step held ---------------------------------------------

def suts(names, imc_steps, kafka_steps):
    """Each SUT over a stepped pace: the highest step the aggregator judged
    held, and its breaking point."""
    rows, held = [], {}
    for sut in names:
        steps = kafka_steps if "kafka" in sut else imc_steps
        s = one_run(["--sut", sut, "--pace", steps, "--pacer", "sleep", "--warmup-seconds", "2",
                     "--warmup-rate", "2000", "--drain-seconds", "5"], what=sut)
        top = max(s.held(), default=0)
        held[sut] = top
        rows.append([sut, steps, f"{top}", s.stopped(), f"{s.sut_us:.1f}", s.steal_text()])
    table(["SUT", "pace", "highest step held /s", "why it stopped", "SUT CPU µs/event", "steal"], rows)
    return held


def sut_latency(names, rate, seconds):
    """Each SUT at a low rate: its e2e latency and the SUT's CPU per event."""
    rows = []
    for sut in names:
        s = one_run(["--sut", sut, "--pace", f"{rate}:{seconds}", "--pacer", "sleep", "--warmup-seconds", "2",
                     "--warmup-rate", str(rate), "--drain-seconds", "2"], what=sut)
        rows.append([sut, f"{rate}/s for {seconds} s", f'{s.p("e2e", "p99"):.2f}', f'{s.p("e2e"):.2f}',
                     f'{s.p("e2e_raw"):.2f}', f'{s.p("pacer_lag"):.2f}', str(s.totals["lost"]),
                     s.step_verdict(0), f"{s.sut_us:.1f}", s.steal_text()])
    table(["SUT", "pace", "e2e P99 ms", "e2e P99.99 ms", "e2e raw P99.99 ms", "pacer lag P99.99 ms", "lost",
           "verdict", "SUT CPU µs/event", "steal"], rows)
    return {}


def rates(rs, seconds, extra):
    """The direct scenario rate by rate (a warmup at the rate first): the
    step's verdict is the aggregator's own."""
    rows = []
    for r in rs:
        s = one_run(["--pace", f"{r}:{seconds}", "--warmup-seconds", "2", "--warmup-rate", str(r),
                     "--drain-seconds", "2", *extra], what=f"{r}/s")
        t = s.totals
        rows.append([str(r), str(t["sent"]), str(t["lost"]), f'{s.p("pacer_lag"):.2f}', f'{s.p("publish"):.2f}',
                     f'{s.p("e2e"):.2f}', f"{s.sender_us:.1f}", f"{s.receiver_us:.1f}", s.steal_text(),
                     s.step_verdict(0)])
    table(["rate", "sent", "lost", "pacer lag P99.99 ms", "publish P99.99 ms", "e2e P99.99 ms",
           "sender µs/event", "receiver µs/event", "steal", "verdict"], rows)
    return {}


def one_run(args, what):
    """One `brokerbench run` (quiet, no graphs) into a folder of its own;
    its summary. A run that wrote none ends the benchmark."""
    with tempfile.TemporaryDirectory() as d:
        _, _, err, _ = run([BIN, "run", *args, "--quiet", "--no-plot", "--out", d])
        try:
            return summary.latest(d)
        except (IndexError, FileNotFoundError):
            sys.exit(f"bench: {what}: {err.strip()}")


# --- the tail at 40,000/s, second by second ---------------------------------------

def tail(runs, rate, seconds):
    """`runs` runs at `rate` (warmup at the rate first): each run's e2e
    P99.99 and, in its worst second, the P99.99 of each part of the path."""
    import csv
    rows = []
    for i in range(runs):
        with tempfile.TemporaryDirectory() as d:
            _, _, err, _ = run([BIN, "run", "--pace", f"{rate}:{seconds}", "--warmup-seconds", "2",
                                "--warmup-rate", str(rate), "--drain-seconds", "2", "--quiet", "--no-plot",
                                "--out", d])
            s = summary.latest(d)
            with open(os.path.join(s.folder, "series.tsv")) as f:
                series = list(csv.DictReader(f, delimiter="\t"))
        num = lambda r, k: float(r[k]) if r[k] not in ("NaN", "") else float("nan")
        measured = [r for r in series if r["step"] != "0" and r["e2e_p99_99_ms"] != "NaN"]
        w = max(measured, key=lambda r: num(r, "e2e_p99_99_ms"))
        rows.append([str(i + 1), f'{s.p("e2e"):.2f}', w["second"], f'{num(w, "e2e_p99_99_ms"):.2f}',
                     f'{num(w, "e2e_raw_p99_99_ms"):.2f}', f'{num(w, "conn_wait_p99_99_ms"):.2f}',
                     f'{num(w, "pacer_lag_p99_99_ms"):.2f}', w["connections_opened_per_s"],
                     f'{num(w, "host_steal_pct"):.1f}%'])
    print(f"`run --pace {rate}:{seconds} --warmup-seconds 2 --warmup-rate {rate}`, {runs} runs: each run's e2e "
          f"P99.99 and, in its worst second, the P99.99 of each part of the path (series.tsv)")
    print()
    table(["run", "e2e P99.99 ms", "worst second", "its e2e", "its e2e raw (received - sent)",
           "its connection wait", "its pacer lag", "connections opened", "steal"], rows)
    return {}


# --- memory on the long pace ---------------------------------------------------

def rss(pace_file):
    """Sender and receiver as processes of their own for the whole of
    pace_file; their peak RSS from the kernel."""
    port_a, port_r = free_port(), free_port()
    with tempfile.TemporaryDirectory() as d:
        agg = subprocess.Popen([BIN, "aggregator", "--listen", f"127.0.0.1:{port_a}", "--pace", pace_file,
                                "--quiet", "--no-plot", "--out", d],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        agg_url = f"http://127.0.0.1:{port_a}"
        recv = Child([BIN, "receiver", "--aggregator", agg_url, "--listen", f"127.0.0.1:{port_r}"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        send = Child([BIN, "sender", "--aggregator", agg_url, "--target", f"http://127.0.0.1:{port_r}/",
                      "--pacer", "sleep"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        send.wait()
        recv.wait()
        _, err = agg.communicate()
        s = summary.latest(d)
    t = s["totals"]
    print(f"`{pace_file}` ({t['sent']} events sent, {t['delivered']} delivered, {t['lost']} lost), each role a process: "
          f"sender peak RSS {send.rss_mib:.1f} MiB, receiver {recv.rss_mib:.1f} MiB; steal {pct(send.steal)}")
    print()
    return {"sender": send.rss_mib, "receiver": recv.rss_mib}


# --- a sender under a pod's CPU limit ------------------------------------------------

def docker(*args, check=True):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True)


def quota(repeats, seconds):
    """A sender in a container limited as a pod is (`docker run --cpus`), each
    pacer, two rates; the aggregator and the receiver in containers without
    a limit, on one private network. The median of `repeats` runs of each
    cell: publish and pacer lag P99.99, the sender's throttled time."""
    image = "brokerbench:bench-quota"
    subprocess.run(["scripts/image", BIN, image], check=True, stdout=subprocess.DEVNULL)
    net = f"bb-quota-{os.getpid()}"
    docker("network", "create", net)
    out = tempfile.mkdtemp()
    os.chmod(out, 0o777)
    rows = []
    try:
        for rate in (2000, 20000):
            for cpus in ("1", "2"):
                for pacer in ("spin", "sleep"):
                    got = []
                    for i in range(repeats):
                        name = f"{net}-{rate}-{cpus}-{pacer}-{i}"
                        scenario = f"quota-{rate}-{cpus}-{pacer}-{i}"
                        docker("run", "-d", "--name", f"{name}-agg", "--network", net, "-v", f"{out}:/results",
                               image, "aggregator", "--listen", "0.0.0.0:7000", "--pace", f"{rate}:{seconds}",
                               "--warmup-seconds", "2", "--warmup-rate", str(rate), "--drain-seconds", "2",
                               "--scenario", scenario, "--quiet", "--no-plot", "--out", "/results")
                        agg = f"http://{name}-agg:7000"
                        docker("run", "-d", "--name", f"{name}-recv", "--network", net, image, "receiver",
                               "--aggregator", agg, "--listen", "0.0.0.0:8080")
                        before = steal_ticks()
                        docker("run", "--name", f"{name}-send", "--network", net, f"--cpus={cpus}", image,
                               "sender", "--aggregator", agg, "--target", f"http://{name}-recv:8080/",
                               "--pacer", pacer, check=False)
                        steal = steal_since(before)
                        docker("wait", f"{name}-agg")
                        for c in ("agg", "recv", "send"):
                            docker("rm", "-f", f"{name}-{c}", check=False)
                        d = [x for x in os.listdir(out) if x.endswith(scenario)]
                        s = summary.load(os.path.join(out, d[0]))
                        q = next((x for x in s.get("cpu_quotas", []) if x["role"] == "sender 0"), None)
                        got.append((s.p("publish"), s.p("pacer_lag"), s.p("e2e"),
                                    q["throttled_ms"] if q else 0.0, s.totals["failed"], steal))
                    med = [median([g[k] for g in got]) for k in range(6)]
                    rows.append([f"{rate:,}/s", cpus, pacer, f"{med[0]:.2f}", f"{med[1]:.2f}", f"{med[2]:.2f}",
                                 f"{med[3]:.1f}", f"{med[4]:.0f}",
                                 " / ".join(f"{g[0]:.1f}" for g in got), pct(med[5])])
    finally:
        docker("network", "rm", net, check=False)
        docker("image", "rm", "-f", image, check=False)
        shutil.rmtree(out, ignore_errors=True)
    print(f"A sender in a container with `--cpus` (its pod's CPU limit), the aggregator and the receiver "
          f"unlimited, {seconds} s at each rate after a 2 s warmup; medians of {repeats} runs "
          f"(the publish P99.99 of each run beside them):")
    print()
    table(["rate", "--cpus", "pacer", "publish P99.99 ms", "pacer lag P99.99 ms", "e2e P99.99 ms",
           "sender throttled ms", "failed", "publish P99.99 of each run", "steal"], rows)
    return {}


# --- plotting a long run ---------------------------------------------------------

def plot(pairs):
    d = tempfile.mkdtemp()
    try:
        subprocess.run([LONG_RESULTS, d, "3600", "1000"], check=True, stdout=subprocess.DEVNULL)
        times = []
        for _ in range(pairs):
            t = time.monotonic()
            subprocess.run([BIN, "plot", d], check=True, stdout=subprocess.DEVNULL)
            times.append(time.monotonic() - t)
        rows = sum(1 for _ in open(os.path.join(d, "series.tsv"))) - 1
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print(f"`brokerbench plot` of a one-hour 1,000/s results folder ({rows} rows of series.tsv, made by "
          f"the long_results example), {pairs} runs: " + ", ".join(f"{x:.2f} s" for x in times)
          + f"; median {median(times):.2f} s")
    print()
    return {"plot": median(times)}


def main():
    args = sys.argv[1:]
    modes = [a for a in args if a.startswith("--")]
    pairs = int(os.environ.get("PAIRS", "3"))
    got = {}
    print(f"`scripts/bench {' '.join(args)}` on {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, "
          f"{os.cpu_count()} vCPU, Linux {os.uname().release}")
    print()
    if not modes:
        rs = [int(a) for a in args] or [1000, 5000, 10000, 20000, 30000, 40000]
        rates(rs, int(os.environ.get("SECONDS_PER_RATE", "10")), os.environ.get("BENCH_ARGS", "").split())
        return
    every = "--all" in modes
    floor_rate = int(os.environ.get("FLOOR_RATE", "40000"))
    names = os.environ.get("SUTS", "channel-imc broker-imc channel-kafka broker-kafka source-kafka").split()
    if every or "--vs-floor" in modes:
        got.update(vs_floor(pairs, floor_rate, 10))
    if every or "--vs-oha" in modes:
        got.update(vs_oha(pairs, 20000, 10))
    if every or "--suts" in modes:
        held = suts(names,
                    os.environ.get("IMC_STEPS", "8000:10,12000:10,16000:10,20000:10,24000:10,30000:10"),
                    os.environ.get("KAFKA_STEPS", "4000:10,8000:10,10000:10,12000:10,15000:10"))
        if "channel-imc" in held and "broker-imc" in held:
            got["imc"] = min(held["channel-imc"], held["broker-imc"])
        kafka = [held[s] for s in ["channel-kafka", "broker-kafka", "source-kafka"] if s in held]
        if len(kafka) == 3:
            got["kafka"] = min(kafka)
    if "--tail" in modes:
        tail(int(os.environ.get("TAIL_RUNS", "15")), 40000, 10)
        if len(modes) == 1:
            return
    if "--sut-latency" in modes:
        sut_latency(names, 1000, 30)
        if len(modes) == 1:
            return
    if every or "--rss" in modes:
        r = rss("paces/1k-long.pace")
        got["rss"] = max(r["sender"], r["receiver"])
    if every or "--plot" in modes:
        got.update(plot(pairs))
    if "--quota" in modes:
        quota(pairs, int(os.environ.get("QUOTA_SECONDS", "15")))
        if len(modes) == 1:
            return
    if not got:
        sys.exit("bench: say what to measure: RATE ..., --vs-floor, --vs-oha, --suts, --sut-latency, --tail, --rss, --plot, --quota or --all")
    rows = []
    def row(name, key, fmt, target, ok):
        if key in got:
            v = got[key]
            rows.append([name, fmt(v), target, "met" if ok(v) else "not met"])
    row("whole `run --target` CPU per event at 20,000/s, `--pacer sleep`, against oha's "
        "(the pacer at oha's 1 ms granularity)", "oha", lambda v: f"{v:.2f}×", "≤ 1.0×", lambda v: v <= 1.0)
    row("the same, the pacer at its default 200 µs (5× finer than oha's)", "oha_fine",
        lambda v: f"{v:.2f}×", "≤ 1.0×", lambda v: v <= 1.0)
    row(f"receiver CPU per event at {floor_rate:,}/s against the floor's bare receiver", "receiver",
        lambda v: f"{v:.2f}×", "≤ 1.1×", lambda v: v <= 1.1)
    row(f"direct e2e P99.99 at {floor_rate:,}/s against the floor's", "e2e",
        lambda v: f"{v:.2f}×", "≤ 1.5×", lambda v: v <= 1.5)
    row("channel-imc / broker-imc highest step held", "imc",
        lambda v: f"{v}/s", "≥ 30,000/s", lambda v: v >= 30000)
    row("channel-kafka / broker-kafka / source-kafka highest step held (local broker)", "kafka",
        lambda v: f"{v}/s", "≥ 15,000/s", lambda v: v >= 15000)
    row("sender and receiver peak RSS on paces/1k-long.pace (the larger)", "rss",
        lambda v: f"{v:.1f} MiB", "≤ 64 MiB", lambda v: v <= 64)
    row("`brokerbench plot` of a one-hour 1,000/s results folder (median)", "plot",
        lambda v: f"{v:.2f} s", "≤ 5 s", lambda v: v <= 5)
    table(["figure", "measured (median)", "target", ""], rows)


if __name__ == "__main__":
    main()
