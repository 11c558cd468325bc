from decimal import Decimal

from django.db import migrations, models
from django.db.models import F, Q


def unit_paid_is_unit_price(apps, schema_editor):
    """Orders before discounts existed: every unit paid its price."""
    apps.get_model("orders", "OrderLine").objects.update(unit_paid=F("unit_price"))


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0006_order_store_and_return_status"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="discounts",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="Order-level discounts as given: code and amount.",
            ),
        ),
        migrations.AlterField(
            model_name="orderline",
            name="line_discount",
            field=models.DecimalField(
                decimal_places=2, default=0, help_text="The line's own discount.", max_digits=12
            ),
        ),
        migrations.AddField(
            model_name="orderline",
            name="order_discount",
            field=models.DecimalField(
                decimal_places=2,
                default=0,
                help_text="The line's share of the order-level discounts.",
                max_digits=12,
            ),
        ),
        migrations.AddField(
            model_name="orderline",
            name="unit_paid",
            field=models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=12),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="orderline",
            name="units_paid_extra",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(unit_paid_is_unit_price, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="orderline",
            constraint=models.CheckConstraint(
                condition=Q(
                    line_discount__gte=0,
                    order_discount__gte=0,
                    unit_paid__gte=0,
                    unit_paid__lte=F("unit_price"),
                    units_paid_extra__lt=F("quantity"),
                ),
                name="orderline_paid_within_price",
            ),
        ),
    ]
