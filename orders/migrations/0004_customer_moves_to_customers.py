# The table orders_customer becomes customers_customer, rows, ids and the orders' foreign
# key untouched; the model's state moves to the customers app (customers 0001).

import django.db.models.deletion
from django.db import migrations, models


def move_content_type(apps, schema_editor):
    # Permissions and admin history of customers follow them to the new app.
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="customers", model="customer").exists():
        ContentType.objects.filter(app_label="orders", model="customer").update(
            app_label="customers"
        )


def restore_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="orders", model="customer").exists():
        ContentType.objects.filter(app_label="customers", model="customer").update(
            app_label="orders"
        )


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("customers", "0001_initial"),
        ("orders", "0003_order_fulfilled_at"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AlterModelTable(name="customer", table="customers_customer"),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="order",
                    name="customer",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="orders", to="customers.customer"),
                ),
                migrations.DeleteModel(name="Customer"),
            ],
        ),
        migrations.RunPython(move_content_type, restore_content_type),
    ]
