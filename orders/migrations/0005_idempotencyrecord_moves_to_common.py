# Idempotency-Key records keep every row, recorded answer included, and move to common
# (common 0003 has the model's state): the order they created becomes an opaque reference,
# its number, and the table orders_idempotencyrecord becomes common_idempotencyrecord.

from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def order_to_reference(apps, schema_editor):
    IdempotencyRecord = apps.get_model("orders", "IdempotencyRecord")
    Order = apps.get_model("orders", "Order")
    IdempotencyRecord.objects.filter(order__isnull=False).update(
        reference=Subquery(Order.objects.filter(pk=OuterRef("order_id")).values("number")[:1])
    )


def reference_to_order(apps, schema_editor):
    IdempotencyRecord = apps.get_model("orders", "IdempotencyRecord")
    Order = apps.get_model("orders", "Order")
    IdempotencyRecord.objects.exclude(reference="").update(
        order=Subquery(Order.objects.filter(number=OuterRef("reference")).values("pk")[:1])
    )


def move_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="common", model="idempotencyrecord").exists():
        ContentType.objects.filter(app_label="orders", model="idempotencyrecord").update(
            app_label="common"
        )


def restore_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="orders", model="idempotencyrecord").exists():
        ContentType.objects.filter(app_label="common", model="idempotencyrecord").update(
            app_label="orders"
        )


class Migration(migrations.Migration):

    dependencies = [
        ("common", "0003_idempotencyrecord"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("orders", "0004_customer_moves_to_customers"),
    ]

    operations = [
        migrations.AddField(
            model_name="idempotencyrecord",
            name="reference",
            field=models.CharField(blank=True, default="", help_text="What the first request created (an order number).", max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(order_to_reference, reference_to_order),
        migrations.RemoveField(model_name="idempotencyrecord", name="order"),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AlterModelTable(name="idempotencyrecord", table="common_idempotencyrecord"),
            ],
            state_operations=[
                migrations.DeleteModel(name="IdempotencyRecord"),
            ],
        ),
        migrations.RunPython(move_content_type, restore_content_type),
    ]
