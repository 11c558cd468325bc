# Customer moves here from orders with every row and id: this migration only takes it into
# the state; orders 0004 renames its table and points the orders' foreign key at it.

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("orders", "0003_order_fulfilled_at"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Customer",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        ("email", models.EmailField(blank=True, max_length=254, null=True, unique=True)),
                        ("phone", models.CharField(blank=True, max_length=20, null=True, unique=True)),
                        ("name", models.CharField(blank=True, max_length=120)),
                        ("loyalty_id", models.CharField(blank=True, max_length=40)),
                    ],
                    options={
                        "constraints": [models.CheckConstraint(condition=models.Q(("email__isnull", False), ("phone__isnull", False), _connector="OR"), name="customer_has_email_or_phone")],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
