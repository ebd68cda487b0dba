"""Pages scenario 23 reads through each app host (see README.md there)."""

import hashlib
import os
import socket
import urllib.parse
from datetime import timedelta

from django.http import HttpResponse
from django.utils import timezone

import demo

from .models import Beat, Counter


def text(s):
    return HttpResponse(s + "\n", content_type="text/plain")


def login(request):
    user = request.GET.get("user", "")[:50]
    request.session["user"] = user
    return text(f"logged in user={user} host={socket.gethostname()}")


def whoami(request):
    return text(f"user={request.session.get('user', '-')} host={socket.gethostname()}")


def info(request):
    token = os.environ.get("FLEET_TOKEN")
    digest = hashlib.sha256(token.encode()).hexdigest()[:16] if token else "unset"
    return text(f"host={socket.gethostname()} release={demo.RELEASE} token={digest}")


def counter(request):
    row = Counter.objects.filter(name="rollout").first()
    return text(f"counter={row.value if row else 0}")


def beats(request):
    since = timezone.now() - timedelta(seconds=int(request.GET.get("s", "5")))
    hosts = sorted(set(Beat.objects.filter(at__gte=since).values_list("host", flat=True)))
    return text("beats=" + ",".join(hosts))


def redis(request):
    """INCR on REDIS_URL (redis://:PASSWORD@HOST:PORT/DB), spoken by hand:
    the demo's requirements have no Redis client."""
    u = urllib.parse.urlsplit(os.environ["REDIS_URL"])
    db = (u.path or "/0").lstrip("/") or "0"

    def cmd(*words):
        out = f"*{len(words)}\r\n".encode()
        for w in words:
            b = str(w).encode()
            out += b"$%d\r\n%s\r\n" % (len(b), b)
        return out

    with socket.create_connection((u.hostname, u.port or 6379), timeout=5) as s:
        s.sendall(cmd("AUTH", urllib.parse.unquote(u.password or "")) + cmd("SELECT", db) + cmd("INCR", "fleet:hits"))
        data = b""
        while data.count(b"\r\n") < 3:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    replies = data.decode().split("\r\n")
    return text(f"redis={replies[2].lstrip(':')} host={socket.gethostname()}")
