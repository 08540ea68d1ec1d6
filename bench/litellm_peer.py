#!/usr/bin/env python3
"""LiteLLM's proxy as the peer gateway for scenario (f): `POST /v1/videos` and
`GET /v1/videos/{id}` through LiteLLM's `runwayml` video provider, pointed at the
simulator's Runway dialect (`POST /v1/image_to_video`, `GET /v1/tasks/{id}`).

    start(tmp_dir, sim_url, port) -> Peer     # used by bench/run.py
    python3 bench/litellm_peer.py --selftest  # starts the simulator and LiteLLM, one
                                              # create and read, then wrk on both routes

LiteLLM lives in its own virtualenv, `bench/.litellm-venv` (git-ignored; `$LITELLM_VENV`
overrides), installed from PyPI on first use (`$LITELLM_SPEC`, pinned below). The proxy runs
with a config file (one model, no database), a master key, its default worker count (1),
logs at ERROR (no per-request lines) and a local model cost map (no fetch at start).

How the calls land on the simulator:
- LiteLLM's runwayml provider joins its paths to `api_base`, whose default is Runway's
  `https://api.dev.runwayml.com/v1`: so `api_base` is `<sim>/v1`.
- A create with only a prompt goes to `/v1/text_to_video`, a route the simulator lacks (it
  has Runway's `image_to_video`, `text_to_image`, `video_to_video`, `video_upscale` and
  `character_performance`). The create body therefore carries `input_reference` (an image
  URL), which LiteLLM maps to `promptImage` and sends to `/v1/image_to_video`.
- LiteLLM sends `Authorization: Bearer <api_key>` and `X-Runway-Version: 2024-11-06` on
  every call; the simulator accepts any non-empty key unless started with `--key`.
- LiteLLM answers with its own id (`video_` + base64 of provider, model and Runway's id);
  `GET /v1/videos/{that id}` decodes it and polls `GET /v1/tasks/{runway id}`.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV = os.environ.get("LITELLM_VENV", os.path.join(HERE, ".litellm-venv"))
LITELLM_SPEC = os.environ.get("LITELLM_SPEC", "litellm[proxy]==1.108.7")
MASTER_KEY = "sk-taskgate-bench-0123456789abcdef"
MODEL_NAME = "runway-gen4"  # LiteLLM's model group name, what clients send as `model`
RUNWAY_MODEL = "gen4_turbo"  # Runway's image_to_video model
PROMPT = "a red fox runs through snow"
IMAGE_URL = "https://example.com/fox.png"  # never fetched: the simulator only checks it is there
START_LIMIT_S = 180
SIM_BIN = os.path.join(ROOT, "target", "release", "taskgate-sim")


def _python():
    return os.path.join(VENV, "bin", "python")


def _installed_version():
    """The litellm version in the venv, or None when it is missing or broken."""
    if not os.path.exists(_python()) or not os.path.exists(os.path.join(VENV, "bin", "litellm")):
        return None
    try:
        out = subprocess.run(
            [_python(), "-c", "import importlib.metadata as m; m.version('fastapi'); print(m.version('litellm'))"],
            capture_output=True, text=True, timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def ensure_installed():
    """Create the venv and install LiteLLM's proxy when needed; the installed version."""
    want = LITELLM_SPEC.split("==", 1)[1] if "==" in LITELLM_SPEC else None
    have = _installed_version()
    if have and (want is None or have == want):
        return have
    print(f"installing {LITELLM_SPEC} into {VENV}", flush=True)
    try:
        if not os.path.exists(_python()):
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([_python(), "-m", "pip", "install", "-q", "--disable-pip-version-check", LITELLM_SPEC],
                       check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit(f"LiteLLM install failed ({e}); the venv is {VENV}")
    have = _installed_version()
    if not have:
        raise SystemExit(f"LiteLLM installed into {VENV} but its proxy extras are missing")
    return have


def _request(method, url, key, body=None, timeout=60):
    """(status, parsed JSON or text) of one request; HTTP errors are answers, not exceptions."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            status, raw = res.status, res.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def write_config(tmp_dir, sim_url):
    """LiteLLM's proxy config: one runwayml model on the simulator, no database."""
    path = os.path.join(tmp_dir, "litellm.yaml")
    api_base = sim_url.rstrip("/") + "/v1"
    # JSON is YAML: no YAML writer needed.
    config = {
        "model_list": [{
            "model_name": MODEL_NAME,
            "litellm_params": {
                "model": f"runwayml/{RUNWAY_MODEL}",
                "api_base": api_base,
                "api_key": "sim-key",
            },
            "model_info": {"mode": "video_generation"},
        }],
        "litellm_settings": {
            "json_logs": False,
            "turn_off_message_logging": True,
        },
        "general_settings": {
            "master_key": MASTER_KEY,
            "disable_spend_logs": True,
            "disable_error_logs": True,
        },
    }
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    return path


def _env():
    env = dict(os.environ)
    for k in ("DATABASE_URL", "STORE_MODEL_IN_DB", "REDIS_HOST", "REDIS_URL", "LITELLM_MASTER_KEY",
              "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(k, None)
    env.update({
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the cost map at import
        "LITELLM_LOG": "ERROR",  # also uvicorn's level: no access log lines
        "DISABLE_SCHEMA_UPDATE": "True",
        "DISABLE_ADMIN_UI": "True",
        "NO_DOCS": "True",
        "NO_REDOC": "True",
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    })
    return env


class Peer:
    """A running LiteLLM proxy; see start()."""

    def __init__(self, proc, base_url, key, version, log_path):
        self.proc = proc
        self.pid = proc.pid
        self.base_url = base_url
        self.key = key
        self.version = version
        self.log_path = log_path

    def create_request(self):
        """(path, JSON body) of one POST /v1/videos, for a wrk script."""
        return "/v1/videos", {
            "model": MODEL_NAME,
            "prompt": PROMPT,
            "input_reference": IMAGE_URL,  # -> promptImage, so /v1/image_to_video
            "seconds": "5",
            "size": "1280x720",
        }

    def create_video(self):
        """POST /v1/videos once; the id that GET /v1/videos/{id} takes."""
        path, body = self.create_request()
        status, res = _request("POST", self.base_url + path, self.key, body)
        if status != 200 or not isinstance(res, dict) or not res.get("id"):
            raise SystemExit(f"LiteLLM POST {path} answered {status}: {res}\n(log: {self.log_path})")
        return res["id"]

    def read_path(self, video_id):
        return f"/v1/videos/{video_id}"

    def read_video(self, video_id):
        """(status, body) of GET /v1/videos/{id}."""
        return _request("GET", self.base_url + self.read_path(video_id), self.key)

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def start(tmp_dir, sim_url, port):
    """Install LiteLLM if needed, start its proxy on 127.0.0.1:port with a master key and
    a runwayml model on the simulator, and wait until it answers."""
    version = ensure_installed()
    os.makedirs(tmp_dir, exist_ok=True)
    config = write_config(tmp_dir, sim_url)
    log_path = os.path.join(tmp_dir, "litellm.log")
    cmd = [os.path.join(VENV, "bin", "litellm"), "--config", config, "--host", "127.0.0.1", "--port", str(port)]
    log = open(log_path, "w")
    # Own process group, so stop() ends the proxy and any worker it forks.
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(), cwd=tmp_dir,
                            start_new_session=True)
    log.close()
    peer = Peer(proc, f"http://127.0.0.1:{port}", MASTER_KEY, version, log_path)
    deadline = time.time() + START_LIMIT_S
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"LiteLLM exited with {proc.returncode} at start; its log ({log_path}):\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{peer.base_url}/health/liveliness", timeout=2) as res:
                if res.status == 200:
                    break
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.25)
    else:
        peer.stop()
        raise SystemExit(f"LiteLLM did not answer within {START_LIMIT_S}s; its log ({log_path}):\n{_tail(log_path)}")
    # The model must be there and reach the simulator: one create proves both.
    status, res = _request("GET", f"{peer.base_url}/v1/models", MASTER_KEY)
    if status != 200:
        peer.stop()
        raise SystemExit(f"LiteLLM /v1/models answered {status}: {res}")
    return peer


# --- selftest -------------------------------------------------------------------------------

def _ms(text):
    text = text.strip()
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def _wrk(url, script, env, conns=16, secs=5):
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{secs}s", "--latency", "-s", os.path.join(HERE, script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, check=True).stdout
    r = {"rps": 0.0, "p50": 0.0, "p99": 0.0, "requests": 0, "non2xx": 0, "socket_errors": 0}
    for line in out.splitlines():
        parts = line.split()
        s = line.strip()
        if s.startswith("Requests/sec:"):
            r["rps"] = float(parts[1])
        elif s.startswith("50%"):
            r["p50"] = _ms(parts[1])
        elif s.startswith("99%"):
            r["p99"] = _ms(parts[1])
        elif "requests in" in line:
            r["requests"] = int(parts[0])
        elif s.startswith("Non-2xx"):
            r["non2xx"] += int(parts[-1])
        elif s.startswith("Socket errors"):
            r["socket_errors"] += sum(int(p.strip(",")) for p in parts if p.strip(",").isdigit())
    return r, out


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def selftest():
    if not os.path.exists(SIM_BIN):
        raise SystemExit(f"{SIM_BIN} is missing: cargo build --release -p taskgate-sim")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    tmp = tempfile.mkdtemp(prefix="litellm-peer-")
    sim_port, peer_port = _free_port(), _free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    sim_log = open(os.path.join(tmp, "sim.log"), "w")
    sim = subprocess.Popen([SIM_BIN, "--listen", f"127.0.0.1:{sim_port}", "--not-visible-ms", "0",
                            "--queued-ms", "3600000"], stdout=sim_log, stderr=subprocess.STDOUT,
                           env={**os.environ, "RUST_LOG": "warn"})
    peer = None
    failures = []
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{sim_url}/_sim/stats", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("the simulator did not answer")
        t0 = time.time()
        peer = start(tmp, sim_url, peer_port)
        print(f"LiteLLM {peer.version} up in {time.time() - t0:.1f}s: {peer.base_url} pid {peer.pid} "
              f"(config {tmp}/litellm.yaml, log {peer.log_path})", flush=True)
        path, body = peer.create_request()
        status, created = _request("POST", peer.base_url + path, peer.key, body)
        print(f"POST {path} {json.dumps(body)}\n  -> {status} {json.dumps(created)}", flush=True)
        if status != 200 or not isinstance(created, dict) or not created.get("id"):
            raise SystemExit(f"create failed; LiteLLM log:\n{_tail(peer.log_path)}")
        vid = created["id"]
        status, read = peer.read_video(vid)
        print(f"GET {peer.read_path(vid)}\n  -> {status} {json.dumps(read)}", flush=True)
        if status != 200 or not isinstance(read, dict) or read.get("id") != vid:
            failures.append(f"read answered {status} {read}")
        stats = urllib.request.urlopen(f"{sim_url}/_sim/stats", timeout=5).read().decode()
        print(f"simulator stats: {stats}", flush=True)

        env = {"AUTH": peer.key, "PATH_ONE": peer.read_path(vid)}
        r, out = _wrk(peer.base_url, "get_one.lua", env)
        print(f"wrk -t2 -c16 -d5s GET /v1/videos/{{id}}: {r['rps']:.1f} req/s, p50 {r['p50']:.1f} ms, "
              f"p99 {r['p99']:.1f} ms, {r['requests']} requests, {r['non2xx']} non-2xx, "
              f"{r['socket_errors']} socket errors", flush=True)
        if r["requests"] == 0 or r["non2xx"] or r["socket_errors"]:
            failures.append(f"GET under wrk:\n{out}")
        env = {"AUTH": peer.key, "PATH_ONE": path, "BODY": json.dumps(body)}
        r, out = _wrk(peer.base_url, "create_litellm.lua", env)
        print(f"wrk -t2 -c16 -d5s POST /v1/videos: {r['rps']:.1f} req/s, p50 {r['p50']:.1f} ms, "
              f"p99 {r['p99']:.1f} ms, {r['requests']} requests, {r['non2xx']} non-2xx, "
              f"{r['socket_errors']} socket errors", flush=True)
        if r["requests"] == 0 or r["non2xx"] or r["socket_errors"]:
            failures.append(f"POST under wrk:\n{out}")
        stats = urllib.request.urlopen(f"{sim_url}/_sim/stats", timeout=5).read().decode()
        print(f"simulator stats: {stats}", flush=True)
        log_lines = sum(1 for _ in open(peer.log_path, errors="replace"))
        print(f"LiteLLM log: {log_lines} lines after the runs", flush=True)
    finally:
        if peer is not None:
            peer.stop()
        sim.terminate()
        sim.wait(timeout=10)
        sim_log.close()
    if failures:
        raise SystemExit("selftest FAILED:\n" + "\n".join(failures))
    print("selftest passed")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--selftest", action="store_true", help="simulator + LiteLLM + one create/read + wrk")
    ap.add_argument("--install", action="store_true", help="only install LiteLLM into the venv")
    a = ap.parse_args()
    if a.install:
        print(ensure_installed())
    elif a.selftest:
        selftest()
    else:
        ap.print_help()
