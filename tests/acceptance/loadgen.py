#!/usr/bin/python3
"""Load loop for the acceptance scenarios; runs inside the test container.

Sends GET requests from --clients concurrent clients (threads; each sends
one request after another, each on a new connection) to one URL with a
Host header, paced together at no more than min_requests/min_seconds a
second, and prints one tab-separated line per request to stdout:

    seq  t_start  status  latency  version  error  phase  wall

status is 0 when no HTTP answer came (refused, reset, timeout); version is
the first group of --version-re found in the body, or "-"; phase is 1 when
the --mark-file existed as the request started, else 0 (the harness
creates it when an upgrade starts: phase 0 is the steady state); wall is
the start's wall-clock time (Unix seconds), to match against the journal. It stops when it
has sent at least --min-requests over at least --min-seconds and either the
--stop-file exists or no stop file was given, or at --max-requests, or at
--max-seconds. Only for loopback addresses inside the container. An
https:// URL is verified against --cafile, its name (resolved by the
container's /etc/hosts) sent as SNI and Host.
"""

import argparse
import http.client
import os
import re
import ssl
import sys
import threading
import time
import urllib.parse


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--min-requests", type=int, default=1000)
    p.add_argument("--max-requests", type=int, default=0)
    p.add_argument("--min-seconds", type=float, default=10.0)
    p.add_argument("--max-seconds", type=float, default=900.0)
    p.add_argument("--stop-file", default="")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--cafile", default="")
    p.add_argument("--clients", type=int, default=1)
    p.add_argument("--mark-file", default="")
    p.add_argument("--version-re", default=r"version[:= ]+\s*([0-9A-Za-z.+~:-]+)")
    a = p.parse_args()

    u = urllib.parse.urlsplit(a.url)
    if u.scheme not in ("http", "https") or not u.hostname:
        print(f"loadgen: only http:// or https:// URLs, not {a.url}", file=sys.stderr)
        return 2
    tls = None
    if u.scheme == "https":
        tls = ssl.create_default_context(cafile=a.cafile or None)
    port = u.port or (443 if tls else 80)
    path = (u.path or "/") + (("?" + u.query) if u.query else "")
    vre = re.compile(a.version_re.encode())
    interval = a.min_seconds / max(a.min_requests, 1)

    start = time.monotonic()
    lock = threading.Lock()
    state = {"n": 0, "done": False}
    out = sys.stdout

    def next_seq() -> int:
        """The next request's number, or 0 when the run is over."""
        with lock:
            if state["done"]:
                return 0
            now = time.monotonic() - start
            n = state["n"]
            if (a.max_requests and n >= a.max_requests) or now >= a.max_seconds:
                state["done"] = True
                return 0
            if n >= a.min_requests and now >= a.min_seconds:
                if not a.stop_file or os.path.exists(a.stop_file):
                    state["done"] = True
                    return 0
            state["n"] = n + 1
            return n + 1

    def client() -> None:
        while True:
            n = next_seq()
            if not n:
                return
            # Pace: request n starts no earlier than (n - 1) * interval.
            due = (n - 1) * interval
            now = time.monotonic() - start
            if due > now:
                time.sleep(due - now)
            phase = 1 if a.mark_file and os.path.exists(a.mark_file) else 0
            t0 = time.monotonic()
            wall = time.time()
            status, version, error = 0, "-", "-"
            if tls:
                conn = http.client.HTTPSConnection(u.hostname, port, timeout=a.timeout, context=tls)
            else:
                conn = http.client.HTTPConnection(u.hostname, port, timeout=a.timeout)
            try:
                conn.request("GET", path, headers={"Host": a.host, "Connection": "close"})
                r = conn.getresponse()
                body = r.read()
                status = r.status
                m = vre.search(body)
                if m:
                    version = m.group(1).decode("utf-8", "replace")
            except Exception as e:  # every failure is data for the report
                error = f"{type(e).__name__}: {e}".replace("\t", " ").replace("\n", " ")
            finally:
                conn.close()
            lat = time.monotonic() - t0
            with lock:
                out.write(f"{n}\t{t0 - start:.3f}\t{status}\t{lat:.4f}\t{version}\t{error}\t{phase}\t{wall:.3f}\n")
                out.flush()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(max(a.clients, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
