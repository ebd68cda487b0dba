"""v2's data migration: increments the counter row "rollout" once. Run on
two hosts upgraded at once, it must still run once (djdd's advisory lock
around migrate): the counter then reads 1."""

from django.db import migrations
from django.db.models import F


def bump(apps, schema_editor):
    Counter = apps.get_model("fleet", "Counter")
    Counter.objects.get_or_create(name="rollout")
    Counter.objects.filter(name="rollout").update(value=F("value") + 1)


class Migration(migrations.Migration):
    dependencies = [("fleet", "0001_initial")]
    operations = [migrations.RunPython(bump, migrations.RunPython.noop)]
