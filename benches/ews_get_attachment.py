#!/usr/bin/env python3
"""GetAttachment through the gateway's EWS front end vs `$value` straight from the Graph simulator.

For 1 KB, 1 MB and 100 MB attachments: throughput (attachment bytes per second, sequential
requests on one keep-alive connection) and the gateway process's peak RSS (VmHWM, reset with
/proc/PID/clear_refs before each size), all measured in one run. The simulator and the gateway
run as separate processes, so the gateway's RSS is the gateway's alone.

Usage: cargo build --release -p naa-gateway -p naa-sim && python3 benches/ews_get_attachment.py
Environment: NAA_BENCH_BIN (default target/release), NAA_BENCH_SIZES (bytes, comma separated).
Linux only (reads /proc). Uses only the standard library.
"""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("NAA_BENCH_BIN", os.path.join(ROOT, "target", "release"))
SIZES = [int(s) for s in os.environ.get("NAA_BENCH_SIZES", "1024,1048576,104857600").split(",")]
ENTRA, GRAPH, GATEWAY, ADMIN = 18401, 18402, 18403, 18404
USER = "alice@contoso.com"
# The sandbox tenant's fixed facts (naa_sim::seed::SeedTenant::contoso).
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "6e0b7a4c-3f1d-4b8e-9a2c-5d7f1e3b9c04"
SECRET = "sandbox~secret.not-for-production"

CONFIG = f"""
[server]
listen = "127.0.0.1:{GATEWAY}"

[admin]
listen = "127.0.0.1:{ADMIN}"

[entra]
authority = "http://127.0.0.1:{ENTRA}"
client_id = "{CLIENT_ID}"
audiences = ["api://{CLIENT_ID}"]
allowed_tenants = ["{TENANT}"]

[entra.credential]
kind = "secret"
secret = {{ value = "{SECRET}" }}

[graph]
base_url = "http://127.0.0.1:{GRAPH}/v1.0"

[policy]
max_attachment_bytes = 1099511627776
"""


def request(port, method, path, body=None, headers=None, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request(method, path, body=body, headers=headers or {})
    res = conn.getresponse()
    total = 0
    while True:
        chunk = res.read(1 << 20)
        if not chunk:
            break
        total += len(chunk)
        last = chunk
    if own:
        conn.close()
    return res.status, total, (last if total else b"")


def get_json(port, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"content-type": "application/json"} if body else {}
    conn.request("POST" if body else "GET", path, body=json.dumps(body) if body else None, headers=headers)
    data = conn.getresponse().read()
    conn.close()
    return json.loads(data)


def wait_port(port, path="/"):
    for _ in range(300):
        try:
            request(port, "GET", path)
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def start_sim(size):
    env = dict(os.environ, NAA_SIM_LARGE_ATTACHMENT_BYTES=str(size))
    sim = subprocess.Popen(
        [os.path.join(BIN, "naa-sim"), "--entra-listen", f"127.0.0.1:{ENTRA}", "--graph-listen", f"127.0.0.1:{GRAPH}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    sim.stdout.readline()
    return sim


def attachment_of_size(size):
    messages = get_json(GRAPH, f"/sandbox/mailboxes/{urllib.parse.quote(USER)}/messages")
    for m in messages:
        for a in m["attachments"]:
            if a["kind"] == "file" and a["size"] == size:
                return m, a
    raise SystemExit(f"no attachment of {size} bytes")


def soap(att_id):
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
        '<soap:Header><t:RequestServerVersion Version="Exchange2016"/></soap:Header><soap:Body>'
        '<GetAttachment xmlns="http://schemas.microsoft.com/exchange/services/2006/messages">'
        f'<AttachmentShape/><AttachmentIds><t:AttachmentId Id="{att_id}"/></AttachmentIds>'
        "</GetAttachment></soap:Body></soap:Envelope>"
    ).encode()


def measure(port, method, path, body, headers, size, iterations):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    request(port, method, path, body, headers, conn)  # warm-up (token exchange, connection)
    started = time.perf_counter()
    for _ in range(iterations):
        status, total, tail = request(port, method, path, body, headers, conn)
        if status != 200 or (port == GATEWAY and b"NoError" not in tail and total < 4096):
            raise SystemExit(f"request failed: {status} {tail[-300:]!r}")
    elapsed = time.perf_counter() - started
    conn.close()
    return size * iterations / elapsed / 1e6, elapsed / iterations * 1000


def main():
    work = tempfile.mkdtemp(prefix="naa-bench-")
    config = os.path.join(work, "gateway.toml")
    with open(config, "w") as f:
        f.write(CONFIG)
    rows = []
    gateway = None
    sim = None
    try:
        for size in SIZES:
            sim = start_sim(size)
            wait_port(GRAPH, "/sandbox/stats")
            if gateway is None:
                gateway = subprocess.Popen(
                    [os.path.join(BIN, "naa-gateway"), "serve", "--config", config],
                    stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "gateway.log"), "w"),
                )
                wait_port(GATEWAY, "/healthz")
            msg, att = attachment_of_size(size)
            naa = get_json(ENTRA, "/sandbox/token", {"user": USER})["access_token"]
            graph_token = get_json(ENTRA, "/sandbox/token", {"user": USER, "audience": "https://graph.microsoft.com"})["access_token"]
            iterations = max(3, min(300, (256 << 20) // max(size, 1)))
            direct_path = f"/v1.0/me/messages/{msg['rest_id']}/attachments/{att['rest_id']}/$value"
            direct = measure(GRAPH, "GET", direct_path, None, {"authorization": f"Bearer {graph_token}"}, size, iterations)
            idle_kb = status_kb(gateway.pid, "VmRSS")
            reset_peak(gateway.pid)
            headers = {"authorization": f"Bearer {naa}", "content-type": "text/xml; charset=utf-8"}
            via = measure(GATEWAY, "POST", "/EWS/Exchange.asmx", soap(att["ews_id"]), headers, size, iterations)
            peak_kb = status_kb(gateway.pid, "VmHWM")
            rows.append((size, iterations, direct, via, idle_kb, peak_kb))
            sim.terminate()
            sim.wait()
            sim = None
    finally:
        for proc in (sim, gateway):
            if proc is not None:
                proc.terminate()
                proc.wait()
    print("| attachment | requests | Graph sim `$value` MB/s | gateway EWS MB/s | gateway/direct | gateway RSS before | gateway peak RSS | peak - before |")
    print("|---|---|---|---|---|---|---|---|")
    for size, n, direct, via, idle_kb, peak_kb in rows:
        label = f"{size / 1048576:g} MiB" if size >= 1048576 else f"{size / 1024:g} KiB"
        print(
            f"| {label} | {n} | {direct[0]:.1f} ({direct[1]:.2f} ms/req) | {via[0]:.1f} ({via[1]:.2f} ms/req) "
            f"| {via[0] / direct[0]:.2f} | {idle_kb / 1024:.1f} MiB | {peak_kb / 1024:.1f} MiB | {(peak_kb - idle_kb) / 1024:.1f} MiB |"
        )


if __name__ == "__main__":
    sys.exit(main())
