#!/usr/bin/env python3
"""System benchmarks of the real binary over SIP/RTP on loopback: response latency, conversational
capacity, media capacity, call setup rate (plain, with a closed network's SIP timers, and with
SDES-SRTP), memory, and the soak of many short calls.

  system_bench.py --chalkbot PATH [--smoke]
                  [--only latency,conversation,media,media_noise,media_srtp,media_opus,setup,
                         setup_lan,setup_srtp,memory,soak]
                  [--results DIR] [--check]

Each benchmark prints its figures beside their targets and writes bench/results/<name>.json.
Benchmarks never fail on a time: the exit status is non-zero only when one could not run at all
(a server did not start, a call failed to connect...), or, with --check, when the soak misses its
memory, file-descriptor or stored-calls target. --smoke runs each in a few seconds so that
`make test` keeps them working.
"""

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent
STANDIN = SOURCE / "tests" / "standin" / "openai_standin.py"
SIPP_SCENARIOS = SOURCE / "bench" / "sipp"

# The bench's scripted model: short answers, so that a benchmark call spends its time on turns.
LATENCY_SCRIPT = {
    "rules": [],
    "default": "Sure, happy to help. That was question {user_turns_before}.",
}
QUESTIONS = [
    "What is the capital of France?",
    "How far away is the moon?",
    "Can you tell me a joke please?",
    "What time does the shop open?",
]


class BenchError(Exception):
    pass


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def summary(values):
    if not values:
        return None
    return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95),
            "p99": percentile(values, 99), "max": max(values)}


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def thread_count(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Stack:
    """The stand-in model and one `chalkbot serve`, in a scratch directory."""

    def __init__(self, chalkbot, work, ttft_ms=0, env=None, script=None):
        self.chalkbot, self.work = chalkbot, Path(work)
        self.db = self.work / "calls.db"
        script_path = self.work / "script.json"
        script_path.write_text(json.dumps(script or LATENCY_SCRIPT))
        # tokens-per-sec 0: after its first token the model's whole answer arrives at once, so the
        # figures isolate time to first token (what a real model is characterised by).
        self.standin = subprocess.Popen(
            [sys.executable, str(STANDIN), "--port", "0", "--script", str(script_path),
             "--ttft-ms", str(ttft_ms), "--tokens-per-sec", "0"],
            stdout=subprocess.PIPE, stderr=open(self.work / "standin.err", "w"), text=True)
        line = self.standin.stdout.readline()
        if not line.startswith("LISTENING "):
            raise BenchError("the stand-in did not start")
        self.llm_url = f"http://127.0.0.1:{line.split()[1]}/v1"
        serve_env = dict(os.environ, CHALKBOT_LLM_BASE_URL=self.llm_url,
                         CHALKBOT_STORE_PATH=str(self.db), CHALKBOT_SIP_PORT="0",
                         CHALKBOT_ADMIN_LISTEN="127.0.0.1:0",  # not 8080: another serve may hold it
                         CHALKBOT_LOG_LEVEL=os.environ.get("CHALKBOT_LOG_LEVEL", "warn"),
                         **(env or {}))
        self.serve_out = open(self.work / "serve.out", "w+")
        self.serve = subprocess.Popen([chalkbot, "serve"], env=serve_env, stdout=self.serve_out,
                                      stderr=open(self.work / "serve.err", "w"))
        self.port, self.admin_url = self._wait_listening()
        self.target = f"sip:bot@127.0.0.1:{self.port}"

    def _wait_listening(self):
        """(SIP port, admin URL) once serve has printed both."""
        # 60 s: on a loaded 2-core runner serve has taken over 10 s to load its models.
        for _ in range(1200):
            self.serve_out.seek(0)
            out = self.serve_out.read()
            sip = re.search(r"chalkbot: listening on .*:(\d+)$", out, re.M)
            admin = re.search(r"chalkbot: admin on (\S+)$", out, re.M)
            if sip and admin:
                return int(sip.group(1)), f"http://{admin.group(1)}"
            if self.serve.poll() is not None:
                raise BenchError("serve exited: " + (self.work / "serve.err").read_text()[-2000:])
            time.sleep(0.05)
        raise BenchError("serve did not start in 60 s: " +
                         (self.work / "serve.err").read_text()[-2000:])

    def metric(self, name):
        """One unlabelled metric from serve's /metrics."""
        with urllib.request.urlopen(self.admin_url + "/metrics", timeout=10) as reply:
            for line in reply.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        raise BenchError(f"serve's /metrics has no {name}")

    def check_alive(self):
        """Raises with the exit status and the end of serve's log when it has died."""
        code = self.serve.poll()
        if code is not None:
            raise BenchError(f"serve exited with {code}: " +
                             (self.work / "serve.err").read_text()[-3000:])

    def stop(self):
        if self.serve.poll() is None:
            self.serve.send_signal(signal.SIGTERM)
            try:
                self.serve.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.serve.kill()
        self.standin.kill()
        self.standin.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def speak(chalkbot, text, path):
    subprocess.run([chalkbot, "say", text, "-o", str(path), "--rate", "8000"], check=True,
                   capture_output=True, env=dict(os.environ, CHALKBOT_STORE_PATH=str(path) + ".db"))
    return path


def question_files(chalkbot, work):
    return [speak(chalkbot, q, Path(work) / f"q{i}.wav") for i, q in enumerate(QUESTIONS)]


def place_call(chalkbot, target, questions, timeout_s=120):
    """One `chalkbot call`; returns (its JSON report, the process)."""
    caller = subprocess.run(
        [chalkbot, "call", target, *sum((["--say", str(q)] for q in questions), []),
         "--timeout-s", str(timeout_s)],
        capture_output=True, text=True, timeout=timeout_s + 30,
        env=dict(os.environ, CHALKBOT_MEDIA_JITTER_MIN_MS="20"))
    try:
        return json.loads(caller.stdout)
    except json.JSONDecodeError:
        raise BenchError(f"chalkbot call printed no report: {caller.stderr[-2000:]}")


STAGES = ["speech_start", "speech_end", "endpoint", "asr_done", "llm_first_token",
          "first_sentence", "tts_first_audio", "first_rtp_out", "done"]


def stored_answers(db):
    """The assistant turns of every call, in call order: {call_id: [stage dict, ...]}."""
    connection = sqlite3.connect(db)
    columns = ", ".join(f"{s}_ms" for s in STAGES)
    rows = connection.execute(
        f"select t.call_id, {columns} from turns t join calls c on c.id = t.call_id "
        "where t.role = 'assistant' order by c.started_ms, t.idx").fetchall()
    connection.close()
    calls = {}
    for row in rows:
        calls.setdefault(row[0], []).append(dict(zip(STAGES, row[1:])))
    return calls


def breakdown(stage):
    """One answer's stages, in ms. None where a stamp is missing."""
    def between(a, b):
        return stage[b] - stage[a] if stage[a] is not None and stage[b] is not None else None
    return {
        "endpoint_wait": between("speech_end", "endpoint"),
        "asr": between("endpoint", "asr_done"),
        "llm_first_token": between("asr_done", "llm_first_token"),
        "llm_first_sentence": between("llm_first_token", "first_sentence"),
        "tts_first_audio": between("first_sentence", "tts_first_audio"),
        "queue_to_rtp": between("tts_first_audio", "first_rtp_out"),
        "server_speech_end_to_rtp": between("speech_end", "first_rtp_out"),
    }


def bench_latency(args, work):
    """Caller-side response latency through SIP/RTP, stand-in model at 0 and 300 ms to first
    token, with the per-stage breakdown from the stored timestamps."""
    calls_per_setting = 1 if args.smoke else args.latency_calls
    questions = question_files(args.chalkbot, work)
    if args.smoke:
        questions = questions[:2]
    results = {}
    # The smoke run checks that the bench measures, not how the model's delay shows: one setting.
    for ttft in ((0,) if args.smoke else (0, 300)):
        setting_dir = Path(work) / f"ttft{ttft}"
        setting_dir.mkdir()
        with Stack(args.chalkbot, setting_dir, ttft_ms=ttft) as stack:
            reports = [place_call(args.chalkbot, stack.target, questions)
                       for _ in range(calls_per_setting)]
        stored = list(stored_answers(stack.db).values())
        samples = []
        for report, answers in zip(reports, stored):
            for turn, stage in zip(report["turns"], answers):
                if turn.get("response_latency_ms") is None:
                    continue
                parts = breakdown(stage)
                latency = turn["response_latency_ms"]
                llm = parts["llm_first_token"]
                # The model's own time to first token is the stand-in's setting; what the call
                # waited for it after ASR (llm_first_token) is less when the answer was prefetched.
                sample = {"latency": latency, "latency_minus_llm": latency - ttft, **parts}
                if llm is not None:
                    known = [parts[k] for k in ("endpoint_wait", "asr", "tts_first_audio")]
                    if None not in known and parts["server_speech_end_to_rtp"] is not None:
                        # The server's own glue: what is left of speech end -> first RTP out once
                        # endpointing, ASR, the model's first token and TTS are taken out.
                        sample["pipeline_overhead"] = (
                            parts["server_speech_end_to_rtp"] - sum(known) - llm)
                        sample["transport_and_buffers"] = (
                            latency - parts["server_speech_end_to_rtp"])
                samples.append(sample)
        failed = [r for r in reports if not r.get("answered") or r.get("error")]
        keys = ["latency", "latency_minus_llm", "pipeline_overhead", "transport_and_buffers",
                "endpoint_wait", "asr", "llm_first_token", "llm_first_sentence",
                "tts_first_audio", "queue_to_rtp"]
        if failed or not samples:
            raise BenchError(f"latency: {len(failed)} of {len(reports)} calls failed, "
                             f"{len(samples)} answers measured")
        results[f"ttft_{ttft}ms"] = {
            "calls": len(reports), "failed_calls": len(failed), "answers": len(samples),
            **{k: summary([s[k] for s in samples if s.get(k) is not None]) for k in keys}}
    return results


def latency_rows(results):
    rows = []
    for setting, r in results.items():
        for key, label, target in (
                ("latency", "response latency", None),
                ("latency_minus_llm", "latency - model's first token", (450, 700)),
                ("pipeline_overhead", "pipeline overhead (server)", (None, 15)),
                ("transport_and_buffers", "VAD hangover, RTP, jitter buffers", None),
                ("endpoint_wait", "endpoint wait", None), ("asr", "ASR after endpoint", None),
                ("llm_first_token", "wait for the model after ASR", None),
                ("tts_first_audio", "TTS first audio", None)):
            s = r.get(key)
            if not s:
                continue
            goal = ""
            if target:
                goal = " / ".join(f"{name} <= {v}" for name, v in zip(("p50", "p95"), target) if v)
            rows.append((f"{setting} {label}", f"p50 {s['p50']} p95 {s['p95']} p99 {s['p99']} ms "
                         f"(n={s['n']})", goal))
    return rows



def run_sipp(args, port, scenario, calls, rate, extra=(), timeout_s=120, work="."):
    """sipp as the caller (UAC) against 127.0.0.1:port. Returns (successful, failed) calls."""
    stats = Path(work) / f"sipp-{time.monotonic_ns()}.csv"
    command = ["sipp", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-m", str(calls), "-r", str(rate),
               "-rp", "1000", "-timeout", f"{timeout_s}s", "-timeout_error", "-nostdin",
               "-trace_stat", "-stf", str(stats), "-fd", "1", "-nd",
               # The caller's socket must not drop our answers in a burst either (capped by
               # net.core.rmem_max, as the server's is).
               "-buff_size", str(4 * 1024 * 1024),
               *(["-sf", str(scenario)] if str(scenario).endswith(".xml") else ["-sn", scenario]),
               *extra, f"127.0.0.1:{port}"]
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=timeout_s + 30)
    # 0: all calls succeeded; 1: some failed; 255 with -timeout_error: calls were still hanging
    # when the time was up (the server fell behind). Anything else, or no statistics: broken.
    if done.returncode not in (0, 1, 255) or not stats.exists():
        raise BenchError(f"sipp exited {done.returncode}: {done.stderr[-1500:]}")
    lines = stats.read_text().strip().splitlines()
    header, last = lines[0].split(";"), lines[-1].split(";")
    field = dict(zip(header, last))
    ok = int(field["SuccessfulCall(C)"])
    return ok, max(int(field["FailedCall(C)"]), calls - ok)  # calls cut off by the timeout failed


def free_tcp_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TlsTunnel:
    """SIP over TLS for sipp, which Debian builds without TLS: sipp speaks SIP over TCP to stunnel
    (client mode) on loopback, and stunnel carries each TCP connection to the server's TLS
    listener as its own TLS connection, verifying the server's certificate. A self-signed
    certificate for 127.0.0.1 (RSA 2048, what most deployments still use) is made in `work`."""

    def __init__(self, work):
        self.work = Path(work)
        self.certificate, self.key = self.work / "server.pem", self.work / "server.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-keyout", str(self.key), "-out", str(self.certificate),
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        self.server_port, self.port = free_tcp_port(), free_tcp_port()
        self.process = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def server_env(self):
        return {"CHALKBOT_SIP_TLS_LISTEN": f"127.0.0.1:{self.server_port}",
                "CHALKBOT_SIP_TLS_CERTIFICATE": str(self.certificate),
                "CHALKBOT_SIP_TLS_PRIVATE_KEY": str(self.key)}

    def start(self):
        conf = self.work / "stunnel.conf"
        conf.write_text(f"foreground = yes\npid =\ndebug = 3\n[sip]\nclient = yes\n"
                        f"accept = 127.0.0.1:{self.port}\nconnect = 127.0.0.1:{self.server_port}\n"
                        f"CAfile = {self.certificate}\nverifyPeer = yes\n"
                        f"checkIP = 127.0.0.1\n")
        self.process = subprocess.Popen(["stunnel", str(conf)], stdout=subprocess.DEVNULL,
                                        stderr=open(self.work / "stunnel.err", "w"))
        for _ in range(200):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise BenchError("stunnel did not start: " + (self.work / "stunnel.err").read_text()[-1500:])

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


# SIP timers for a closed, private network (RFC 3261 17.1.1.1 lets T1 be smaller than 500 ms
# there), such as a PBX on the bot's site as its only peer: sofia-sip keeps each ended call's transactions for 64*T1 (6.4 s instead of
# 32 s) and an answered INVITE's for T4 after its ACK, about 10 KB a call, so at thousands of calls
# a second these timers, not the calls, decide the memory.
LAN_TIMERS = {"CHALKBOT_SIP_TIMER_T1_MS": "100", "CHALKBOT_SIP_TIMER_T4_MS": "1000"}


def bench_setup(args, work, srtp=False, tls=None, timers=None):
    """Call setup rate: sipp's uac (INVITE, 200, ACK, BYE at once) at rising rates; the highest
    rate with no failed call. srtp: the offer is RTP/SAVP with an a=crypto key and the server
    requires SRTP (SDES negotiation, a CSPRNG key and two libsrtp contexts per call). tls: SIP
    over TLS through TlsTunnel, either "shared" (every call on one TLS connection, as a trunk
    keeps one) or "per_call" (a new connection and handshake for each call, as phones that do
    not keep theirs open); else over UDP. timers: SIP timer settings (environment) instead of the
    RFC 3261 defaults."""
    rates = [50] if args.smoke else [100, 200, 400, 600, 800, 1000, 1200, 1500, 2000, 2500,
                                       3000, 4000, 5000]
    seconds = 1 if args.smoke else 4
    steps = []
    env = {"CHALKBOT_ASR_PROVIDER": "none", "CHALKBOT_SIP_MAX_CALLS": "5000",
           "CHALKBOT_SIP_RATE_LIMIT_PER_S": "0"}  # sipp is one source: measure, do not police
    if srtp:
        env["CHALKBOT_MEDIA_SRTP"] = "required"
    env.update(timers or {})
    if tls:
        scenario = SIPP_SCENARIOS / ("uac_srtp.xml" if srtp else "uac_plain.xml")
        sipp_extra = ["-t", "t1" if tls == "shared" else "tn", "-max_socket", "10000",
                      "-key", "via_transport", "TLS"]
    else:
        scenario = SIPP_SCENARIOS / "uac_srtp.xml" if srtp else "uac"
        sipp_extra = ["-key", "via_transport", "UDP"] if srtp else []
    with contextlib.ExitStack() as running:
        tunnel = running.enter_context(TlsTunnel(work)) if tls else None
        if tunnel:
            env.update(tunnel.server_env())
        stack = running.enter_context(Stack(args.chalkbot, work, env=env))
        sipp_port = tunnel.port if tunnel else stack.port
        for rate in rates:
            calls = rate * seconds
            cpu_before = cpu_seconds(stack.serve.pid)
            started = time.monotonic()
            peak_rss = [rss_kb(stack.serve.pid)]
            sampling = threading.Event()

            def sample_rss():
                while not sampling.wait(0.05):
                    peak_rss[0] = max(peak_rss[0], rss_kb(stack.serve.pid))

            sampler = threading.Thread(target=sample_rss)
            sampler.start()
            try:
                ok, failed = run_sipp(args, sipp_port, scenario, calls, rate, work=work,
                                      timeout_s=seconds + 20, extra=sipp_extra)
            finally:
                sampling.set()
                sampler.join()
            elapsed = time.monotonic() - started
            steps.append({"rate": rate, "calls": calls, "successful": ok, "failed": failed,
                          "seconds": round(elapsed, 2), "achieved_cps": round(ok / elapsed, 1),
                          "server_cpu_cores": round((cpu_seconds(stack.serve.pid) - cpu_before)
                                                    / elapsed, 2),
                          "server_rss_peak_mb": round(peak_rss[0] / 1024, 1)})
            if failed:
                break
            time.sleep(1)  # let the calls' threads finish before the next step
    if steps[0]["successful"] == 0:
        raise BenchError("setup: no call succeeded at all")
    # A step counts when every call succeeded AND the server kept up (achieved within 10 % of
    # the offered rate): sipp stretching a step over more seconds is not that rate.
    best = max((s["rate"] for s in steps if s["failed"] == 0 and s["successful"] == s["calls"]
                and s["achieved_cps"] >= 0.9 * s["rate"]), default=0)
    return {"steps": steps, "max_rate_without_failures": best, "timers": timers or "RFC 3261"}


def setup_rows(result):
    rows = [(f"{s['rate']} calls/s offered", f"{s['successful']}/{s['calls']} ok, {s['failed']} "
             f"failed, achieved {s['achieved_cps']}/s, server {s['server_cpu_cores']} cores, "
             f"RSS peak {s['server_rss_peak_mb']} MB", "") for s in result["steps"]]
    rows.append(("highest rate kept up, 0 failures", f"{result['max_rate_without_failures']} calls/s",
                 ">= 3000 calls/s, RSS <= 300 MB"))
    rows.append(("SIP timers", str(result.get("timers", "RFC 3261")), ""))
    return rows


def bench_memory(args, work):
    """RSS per idle and per active call."""
    idle_calls = 20 if args.smoke else 200
    active_calls = 4 if args.smoke else 40
    result = {}
    os.symlink("/usr/share/sip-tester", Path(work) / "pcap")  # uac_pcap's audio
    env = {"CHALKBOT_SIP_MAX_CALLS": "5000", "CHALKBOT_ASR_POOL_SIZE": "2",
           "CHALKBOT_SIP_RATE_LIMIT_PER_S": "0", "CHALKBOT_VAD_NO_INPUT_TIMEOUT_MS": "120000"}
    with Stack(args.chalkbot, work, env=env) as stack:
        pid = stack.serve.pid
        time.sleep(1)
        base_rss, base_fds = rss_kb(pid), open_fds(pid)
        result["baseline"] = {"rss_mb": round(base_rss / 1024, 1), "fds": base_fds,
                              "threads": thread_count(pid)}

        # Idle: answered calls that say nothing (sipp sends no RTP), held while we look.
        hold_ms = 8000 if args.smoke else 15000
        idle = subprocess.Popen(
            ["sipp", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-sn", "uac", "-m", str(idle_calls),
             "-r", "100", "-d", str(hold_ms), "-nostdin", "-nd", f"127.0.0.1:{stack.port}"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(idle_calls / 100 + 3)
        idle_rss = rss_kb(pid)
        result["idle_calls"] = {"calls": idle_calls,
                                "rss_per_call_kb": round((idle_rss - base_rss) / idle_calls, 1),
                                "threads": thread_count(pid)}
        idle.wait(timeout=hold_ms / 1000 + 60)
        time.sleep(2)

        # Active: callers that talk (sipp's uac_pcap plays speech); the bot listens and answers.
        rss_before = rss_kb(pid)
        active = subprocess.Popen(
            ["sipp", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-sn", "uac_pcap", "-m",
             str(active_calls), "-r", "20", "-nostdin", "-nd", f"127.0.0.1:{stack.port}"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak = rss_before
        while active.poll() is None:
            peak = max(peak, rss_kb(pid))
            time.sleep(0.2)
        result["active_calls"] = {
            "calls": active_calls, "rss_peak_mb": round(peak / 1024, 1),
            "rss_per_call_kb_incl_decoders": round((peak - rss_before) / active_calls, 1),
            "asr_decoders_max": 2}
        time.sleep(2)

    return result


def memory_rows(r):
    return [
        ("baseline", f"{r['baseline']['rss_mb']} MB RSS, {r['baseline']['fds']} fds, "
         f"{r['baseline']['threads']} threads", ""),
        ("per idle call", f"{r['idle_calls']['rss_per_call_kb']} KB ({r['idle_calls']['calls']} "
         f"calls, {r['idle_calls']['threads']} threads)", "<= 120 KB"),
        ("per active call", f"{r['active_calls']['rss_per_call_kb_incl_decoders']} KB incl. ASR "
         f"decoders ({r['active_calls']['calls']} calls, peak {r['active_calls']['rss_peak_mb']} "
         "MB)", ""),
        ("ASR decoders held", f"at most {r['active_calls']['asr_decoders_max']} (asr.pool_size)",
         ""),
    ]


# A leak grows the heap in use; RSS also keeps pages that the busiest moment of the run left
# half used, which on a loaded runner (more calls overlapping) was 7 % with no leak.
SOAK_MAX_HEAP_GROWTH_PERCENT = 5
SOAK_MAX_RSS_GROWTH_PERCENT = 20


def bench_soak(args, work):
    """Many short calls (sipp's uac: INVITE, 200, ACK, BYE) at a steady rate. Heap in use and RSS
    after a warm-up of a tenth of them against the same after the rest, both measured once the
    server is idle again and sofia-sip's transaction timers (64*T1 after a BYE) have run out; and
    file descriptors back at the baseline. With --check a miss is a failure: this is the soak test of `make test`.
    T1 is 100 ms on loopback (6.4 s of transaction linger instead of RFC 3261's 32 s): the soak
    looks for what is left after the calls, not at how long the SIP stack keeps them."""
    calls = 300 if args.smoke else args.soak_calls
    warm = calls // 10
    t1_ms = 100
    # The transactions' linger (64*T1) + the server's next memory trim (10 s) + 2 s to spare.
    settle_s = 0 if args.smoke else 64 * t1_ms / 1000 + 12
    env = {"CHALKBOT_SIP_MAX_CALLS": "5000", "CHALKBOT_SIP_RATE_LIMIT_PER_S": "0",
           "CHALKBOT_SIP_TIMER_T1_MS": str(t1_ms)}
    with Stack(args.chalkbot, work, env=env) as stack:
        pid = stack.serve.pid
        time.sleep(1)
        base_fds = open_fds(pid)
        _, warm_failed = run_sipp(args, stack.port, "uac", warm, args.soak_rate, work=work)
        time.sleep(settle_s)
        stack.check_alive()
        warm_rss, warm_heap = rss_kb(pid), stack.metric("chalkbot_heap_in_use_bytes")
        started = time.monotonic()
        ok, failed = run_sipp(args, stack.port, "uac", calls - warm, args.soak_rate,
                              timeout_s=calls // 50 + 120, work=work)
        seconds = time.monotonic() - started
        time.sleep(settle_s)
        stack.check_alive()
        end_rss, end_fds = rss_kb(pid), open_fds(pid)
        end_heap = stack.metric("chalkbot_heap_in_use_bytes")
        stored = sqlite3.connect(stack.db).execute(
            "SELECT count(*), count(ended_ms) FROM calls").fetchone()
    result = {"calls": calls, "warmup_calls": warm, "rate": args.soak_rate,
              "failed": warm_failed + failed, "achieved_cps": round(ok / seconds, 1),
              "stored_calls": stored[0], "stored_ended": stored[1],
              "rss_after_warmup_mb": round(warm_rss / 1024, 1),
              "rss_after_mb": round(end_rss / 1024, 1),
              "rss_growth_percent": round(100 * (end_rss - warm_rss) / warm_rss, 2),
              "heap_after_warmup_mb": round(warm_heap / 2**20, 1),
              "heap_after_mb": round(end_heap / 2**20, 1),
              "heap_growth_percent": round(100 * (end_heap - warm_heap) / warm_heap, 2),
              "fds_before": base_fds, "fds_after": end_fds}
    if args.check:
        misses = []
        if result["failed"]:
            misses.append(f"{result['failed']} calls failed")
        if stored != (calls, calls):
            misses.append(f"the store holds {stored[0]} calls ({stored[1]} ended), not {calls}")
        if result["heap_growth_percent"] > SOAK_MAX_HEAP_GROWTH_PERCENT:
            misses.append(f"the heap in use grew {result['heap_growth_percent']} %")
        if result["rss_growth_percent"] > SOAK_MAX_RSS_GROWTH_PERCENT:
            misses.append(f"RSS grew {result['rss_growth_percent']} %")
        if end_fds > base_fds:
            misses.append(f"{end_fds - base_fds} file descriptors leaked")
        result["misses"] = misses
    return result


def soak_rows(r):
    return [
        (f"heap in use over {r['calls']} calls",
         f"{r['heap_growth_percent']} % ({r['heap_after_warmup_mb']} -> {r['heap_after_mb']} MB "
         f"after a {r['warmup_calls']}-call warm-up)", f"<= {SOAK_MAX_HEAP_GROWTH_PERCENT} %"),
        (f"RSS growth over {r['calls']} calls",
         f"{r['rss_growth_percent']} % ({r['rss_after_warmup_mb']} -> {r['rss_after_mb']} MB)",
         f"<= {SOAK_MAX_RSS_GROWTH_PERCENT} %"),
        ("calls", f"{r['calls'] - r['failed']}/{r['calls']} ok at {r['rate']} calls/s offered "
         f"({r['achieved_cps']} achieved); {r['stored_ended']} stored and ended", "all"),
        ("file descriptors", f"{r['fds_before']} before, {r['fds_after']} after",
         "back to baseline"),
    ]


def bench_conversation(args, work):
    """Conversational capacity: N callers at once, each asking questions through embedded ASR
    and TTS; the most callers for which every answer stays within the latency target (latency
    minus the model's first token <= 700 ms, the p95 target) and every call succeeds."""
    levels = [2] if args.smoke else [4, 8, 12, 16, 24, 32]
    questions = question_files(args.chalkbot, work)[:2 if args.smoke else 3]
    steps = []
    for n in levels:
        level_dir = Path(work) / f"n{n}"
        level_dir.mkdir()
        env = {"CHALKBOT_SIP_MAX_CALLS": str(n + 8)}
        if os.environ.get("CHALKBOT_ASR_PROVIDER") == "pocketsphinx":
            # A decoder per caller; Moonshine's pool_size (decodes at once) stays at the cores.
            env["CHALKBOT_ASR_POOL_SIZE"] = str(n)
        with Stack(args.chalkbot, level_dir, env=env) as stack:
            callers = []
            for i in range(n):
                out = open(level_dir / f"caller{i}.json", "w")
                callers.append((subprocess.Popen(
                    [args.chalkbot, "call", stack.target,
                     *sum((["--say", str(q)] for q in questions), []), "--timeout-s", "120"],
                    stdout=out, stderr=subprocess.DEVNULL,
                    env=dict(os.environ, CHALKBOT_MEDIA_JITTER_MIN_MS="20")), out))
                time.sleep(0.25)  # callers arrive over a few seconds, not in one instant
            reports = []
            for proc, out in callers:
                proc.wait(timeout=200)
                out.close()
                try:
                    reports.append(json.loads(Path(out.name).read_text()))
                except json.JSONDecodeError:
                    reports.append({"error": "no report"})
        stored = stored_answers(stack.db)
        latencies, failed = [], 0
        for report in reports:
            turns = report.get("turns", [])
            if report.get("error") or not report.get("answered") or not all(
                    t.get("answered") for t in turns) or len(turns) < len(questions):
                failed += 1
            latencies += [t["response_latency_ms"] for t in turns
                          if t.get("response_latency_ms") is not None]
        parts = [breakdown(a) for answers in stored.values() for a in answers]
        stage = lambda key: summary([p[key] for p in parts if p[key] is not None])
        worst = max(latencies, default=None)
        steps.append({"callers": n, "failed_calls": failed, "answers": len(latencies),
                      "latency": summary(latencies),
                      "endpoint_wait": stage("endpoint_wait"),
                      "asr_after_endpoint": stage("asr"),
                      "server_speech_end_to_rtp": stage("server_speech_end_to_rtp"),
                      "within_target": failed == 0 and worst is not None and worst <= 700})
        if not steps[-1]["within_target"]:
            break
    if not steps[0]["answers"]:
        raise BenchError("conversation: no answer was measured")
    best = max((s["callers"] for s in steps if s["within_target"]), default=0)
    return {"steps": steps, "max_callers_within_target": best,
            "note": "model: stand-in at 0 ms to first token, so latency = latency - LLM"}


def conversation_rows(r):
    rows = []
    for s in r["steps"]:
        lat = s["latency"] or {}
        rows.append((f"{s['callers']} callers", f"latency p50 {lat.get('p50')} p95 {lat.get('p95')} "
                     f"max {lat.get('max')} ms, {s['failed_calls']} failed calls", ""))
    rows.append(("most callers within target", str(r["max_callers_within_target"]), ">= 24"))
    return rows


# The SDES key every SRTP bench call offers (RFC 4568 9.1's example): the sink answers under it.
BENCH_CRYPTO = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"


def bench_media(args, work, line_noise=False, srtp=False, opus=False):
    """Media-only capacity: sipp places the calls, the server runs with a no-op ASR and plays its
    greeting then silence, and chalkbot_rtp_sink receives every stream (and answers with digital
    silence, or with quiet line noise so that the voice detector judges every window): loss and
    pacing measured at the receiving side, from kernel timestamps. Ramped; the most calls with 0
    loss and pacing deviation p99 <= 5 ms. srtp: the calls offer SDES-SRTP, the server requires
    it, and the sink answers in SRTP: the server protects and authenticates every packet. opus:
    the calls offer only Opus, the server (media.codecs opus first) runs them wideband, and the
    sink answers with Opus packets: the server decodes and encodes every 20 ms of every call."""
    sink_bin = args.sink
    scenario = SIPP_SCENARIOS / "uac_media_sink.xml"
    sink_extra = ["--line-noise"] if line_noise else []
    if srtp:
        # The plain scenario with the offer made RTP/SAVP + a=crypto.
        text = scenario.read_text()
        assert "RTP/AVP 0\n" in text
        scenario = Path(work) / "uac_media_sink_srtp.xml"
        scenario.write_text(text.replace("RTP/AVP 0\n", f"RTP/SAVP 0\n      a=crypto:{BENCH_CRYPTO}\n"))
        sink_extra += ["--srtp-crypto", BENCH_CRYPTO]
    if opus:
        text = scenario.read_text()
        assert "RTP/AVP 0\n      a=rtpmap:0 PCMU/8000\n" in text
        scenario = Path(work) / "uac_media_sink_opus.xml"
        scenario.write_text(text.replace(
            "RTP/AVP 0\n      a=rtpmap:0 PCMU/8000\n",
            "RTP/AVP 111\n      a=rtpmap:111 opus/48000/2\n      a=fmtp:111 useinbandfec=1\n"))
        sink_extra += ["--opus-pt", "111"]
    # Opus costs ~0.1-0.4 ms of CPU per call and 20 ms (encode + decode): a finer, lower ramp.
    levels = ([20] if args.smoke else [50, 100, 150, 200, 300, 400] if opus
              else [200, 400, 600, 800, 1000, 1200, 1500, 2000])
    measure_s = 4 if args.smoke else 12
    steps = []
    env = {"CHALKBOT_ASR_PROVIDER": "none", "CHALKBOT_SIP_MAX_CALLS": "4000",
           "CHALKBOT_SIP_RATE_LIMIT_PER_S": "0",
           "CHALKBOT_VAD_NO_INPUT_TIMEOUT_MS": "120000", "CHALKBOT_FLOW_MAX_SILENT_PROMPTS": "0"}
    if srtp:
        env["CHALKBOT_MEDIA_SRTP"] = "required"
    if opus:
        env["CHALKBOT_MEDIA_CODECS"] = "opus,G722,PCMU,PCMA"
    for n in levels:
        level_dir = Path(work) / f"n{n}"
        level_dir.mkdir()
        first_port = 40000
        (level_dir / "ports.csv").write_text(
            "SEQUENTIAL\n" + "".join(f"127.0.0.1;{first_port + 2 * i};\n" for i in range(n)))
        with Stack(args.chalkbot, level_dir, env=env) as stack:
            ramp_rate = 200
            hold_ms = int((n / ramp_rate + measure_s + 6) * 1000)
            sink = subprocess.Popen(
                [str(sink_bin), "--first-port", str(first_port), "--ports", str(n), "--seconds",
                 str(n / ramp_rate + measure_s + 3), "--warmup-s", "2"] + sink_extra,
                stdout=subprocess.PIPE, text=True)
            if sink.stdout.readline().strip() != "READY":
                raise BenchError("chalkbot_rtp_sink did not start")
            cpu_before = cpu_seconds(stack.serve.pid)
            started = time.monotonic()
            sipp = subprocess.Popen(
                ["sipp", "-i", "127.0.0.1", "-sf", str(scenario),
                 "-inf", str(level_dir / "ports.csv"), "-m", str(n), "-r", str(ramp_rate),
                 "-d", str(hold_ms), "-nostdin", "-nd", "-trace_stat", "-stf",
                 str(level_dir / "stats.csv"), f"127.0.0.1:{stack.port}"],
                cwd=level_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # All calls are up once the ramp is over: count the server's threads then.
            time.sleep(n / ramp_rate + 3)
            threads = thread_count(stack.serve.pid)
            report = json.loads(sink.communicate(timeout=hold_ms / 1000 + 60)[0].strip())
            cpu = (cpu_seconds(stack.serve.pid) - cpu_before) / (time.monotonic() - started)
            sipp.wait(timeout=hold_ms / 1000 + 60)
            if srtp:  # the sink's SRTP must reach the server authentic, or this measures nothing
                time.sleep(1)  # the packet counters are added as each call ends
                report["server_received"] = int(stack.metric("chalkbot_rtp_packets_received_total"))
                report["server_rejected"] = int(stack.metric("chalkbot_srtp_packets_rejected_total"))
        report.update(calls=n, server_cpu_cores=round(cpu, 2), server_threads=threads)
        report["within_target"] = (report["streams"] == n and report["lost"] == 0 and
                                   report["pacing_deviation_ms_p99"] <= 5 and
                                   report.get("server_rejected", 0) == 0)
        steps.append(report)
        # Past the target the next levels still say how the server degrades, until it drops
        # calls or packets.
        if report["streams"] < n or report["lost"] > 0 or report.get("server_rejected", 0):
            break
    if not steps[0]["streams"]:
        raise BenchError("media: the sink received no stream")
    if srtp and not steps[0]["server_received"]:
        raise BenchError("media: the server took none of the sink's SRTP packets")
    # The most calls for which that level and every level below it met the target.
    best = 0
    for s in steps:
        if not s["within_target"]:
            break
        best = s["calls"]
    return {"steps": steps, "max_calls_within_target": best}


def media_rows(r):
    rows = [(f"{s['calls']} calls", f"{s['streams']} streams, {s['lost']} lost, pacing p99 "
             f"{s['pacing_deviation_ms_p99']} ms, server {s['server_cpu_cores']} cores, "
             f"{s['server_threads']} threads" +
             (f", SRTP {s['server_received']} in, {s['server_rejected']} rejected"
              if "server_rejected" in s else ""), "")
            for s in r["steps"]]
    rows.append(("most calls, 0 loss, pacing p99 <= 5 ms", str(r["max_calls_within_target"]),
                 ">= 1000"))
    return rows


def print_table(title, rows):
    print(f"\n== {title}")
    width = max((len(r[0]) for r in rows), default=10)
    for name, value, target in rows:
        print(f"  {name:<{width}}  {value:<40} {('target ' + target) if target else ''}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chalkbot", required=True)
    parser.add_argument("--sink", help="chalkbot_rtp_sink (default: beside chalkbot's build)")
    parser.add_argument("--smoke", action="store_true", help="a few seconds each")
    parser.add_argument("--only", default="latency,conversation,media,media_noise,media_srtp,media_opus,"
                                          "setup,setup_lan,"
                                          "setup_srtp,"
                                          "setup_tls_srtp,setup_tls_per_call,memory,soak",
                        help="comma list of benchmarks")
    parser.add_argument("--results", default=str(SOURCE / "bench" / "results"))
    parser.add_argument("--latency-calls", type=int, default=12,
                        help="calls per model setting (4 questions each)")
    parser.add_argument("--soak-calls", type=int, default=10000)
    parser.add_argument("--soak-rate", type=int, default=300, help="calls per second")
    parser.add_argument("--check", action="store_true",
                        help="fail when the soak misses its target (RSS, fds, lost calls)")
    args = parser.parse_args()
    args.chalkbot = str(Path(args.chalkbot).resolve())
    if not args.sink:
        args.sink = str(Path(args.chalkbot).parent.parent / "bench" / "chalkbot_rtp_sink")
    benches = {"latency": (bench_latency, latency_rows), "setup": (bench_setup, setup_rows),
               "setup_lan": (lambda a, w: bench_setup(a, w, timers=LAN_TIMERS), setup_rows),
               "setup_srtp": (lambda a, w: bench_setup(a, w, srtp=True), setup_rows),
               "setup_tls": (lambda a, w: bench_setup(a, w, tls="shared"), setup_rows),
               "setup_tls_per_call": (lambda a, w: bench_setup(a, w, tls="per_call"), setup_rows),
               "setup_tls_srtp": (lambda a, w: bench_setup(a, w, srtp=True, tls="shared"),
                                  setup_rows),
               "memory": (bench_memory, memory_rows), "soak": (bench_soak, soak_rows),
               "conversation": (bench_conversation, conversation_rows),
               "media": (bench_media, media_rows),
               "media_noise": (lambda a, w: bench_media(a, w, line_noise=True), media_rows),
               "media_srtp": (lambda a, w: bench_media(a, w, srtp=True), media_rows),
               "media_opus": (lambda a, w: bench_media(a, w, line_noise=True, opus=True),
                              media_rows)}
    status = 0
    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    for name in args.only.split(","):
        run, rows = benches[name]
        # BENCH_KEEP=1 keeps each benchmark's work folder (server logs) for a look afterwards.
        with (contextlib.nullcontext(tempfile.mkdtemp(prefix=f"bench-{name}-"))
              if os.environ.get("BENCH_KEEP") else
              tempfile.TemporaryDirectory(prefix=f"bench-{name}-")) as work:
            try:
                started = time.monotonic()
                result = run(args, work)
            except (BenchError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
                print(f"{name}: could not run: {e}", file=sys.stderr)
                status = 1
                continue
        record = {"benchmark": name, "smoke": args.smoke, "seconds": round(time.monotonic() -
                  started, 1), "machine": f"{os.cpu_count()} cores", "date":
                  time.strftime("%Y-%m-%d"), "results": result}
        out = results_dir / f"{name}{'-smoke' if args.smoke else ''}.json"
        out.write_text(json.dumps(record, indent=2) + "\n")
        print_table(f"{name} ({out})", rows(result))
        if result.get("misses"):
            print(f"{name}: missed: " + "; ".join(result["misses"]), file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
