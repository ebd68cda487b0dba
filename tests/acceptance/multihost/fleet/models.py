"""What scenario 23 reads across hosts: a counter v2's data migration
increments, and the singleton process's beats (one row a second, with the
host that wrote it)."""

from django.db import models


class Counter(models.Model):
    name = models.CharField(max_length=50, unique=True)
    value = models.IntegerField(default=0)


class Beat(models.Model):
    host = models.CharField(max_length=100)
    at = models.DateTimeField(auto_now_add=True)
