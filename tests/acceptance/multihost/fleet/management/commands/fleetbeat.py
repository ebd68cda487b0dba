"""The singleton process (djdd.toml [processes.singleton]): one row a second
with the host it runs on. Scenario 23 runs it on one app host only."""

import socket
import time

from django.core.management.base import BaseCommand

from fleet.models import Beat


class Command(BaseCommand):
    help = "Records this host's name once a second."

    def handle(self, *args, **options):
        host = socket.gethostname()
        while True:
            Beat.objects.create(host=host)
            time.sleep(1)
