#!/usr/bin/python3
"""Load loop for the acceptance scenarios; runs inside the test container.

Sends GET requests one after another, each on a new connection, to one URL
with a Host header, paced at no more than min_requests/min_seconds a second,
and prints one tab-separated line per request to stdout:

    seq  t_start  status  latency  version  error

status is 0 when no HTTP answer came (refused, reset, timeout); version is
the first group of --version-re found in the body, or "-". It stops when it
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
    n = 0
    out = sys.stdout
    while True:
        now = time.monotonic() - start
        if a.max_requests and n >= a.max_requests:
            break
        if now >= a.max_seconds:
            break
        if n >= a.min_requests and now >= a.min_seconds:
            if not a.stop_file or os.path.exists(a.stop_file):
                break
        # Pace: request n starts no earlier than n * interval.
        due = n * interval
        if due > now:
            time.sleep(due - now)
        n += 1
        t0 = time.monotonic()
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
        out.write(f"{n}\t{t0 - start:.3f}\t{status}\t{lat:.4f}\t{version}\t{error}\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
