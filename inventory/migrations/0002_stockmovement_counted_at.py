from datetime import datetime

from django.db import migrations, models


def backfill_counted_at(apps, schema_editor):
    """Counts recorded so far kept when they were taken in their note: "counted N at ISO"."""
    StockMovement = apps.get_model("inventory", "StockMovement")
    counts = StockMovement.objects.filter(reason="cycle_count", counted_at__isnull=True)
    for movement in counts.only("pk", "note", "created_at").iterator():
        try:
            counted_at = datetime.fromisoformat(movement.note.rsplit(" at ", 1)[1])
        except (IndexError, ValueError):
            counted_at = movement.created_at
        StockMovement.objects.filter(pk=movement.pk).update(counted_at=counted_at)


class Migration(migrations.Migration):

    dependencies = [
        ('inventory', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='stockmovement',
            name='counted_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(backfill_counted_at, migrations.RunPython.noop),
    ]
