# The loyalty id kept so far becomes the member id: empty ones become NULL and, where two
# customers held the same one, the oldest keeps it, so it can be unique.

from django.db import migrations, models


def blanks_to_null_and_unique(apps, schema_editor):
    Customer = apps.get_model("customers", "Customer")
    Customer.objects.filter(member_id="").update(member_id=None)
    seen: set[str] = set()
    for pk, member_id in (
        Customer.objects.filter(member_id__isnull=False).order_by("pk").values_list("pk", "member_id")
    ):
        normalised = member_id.strip().upper()
        if normalised in seen:
            Customer.objects.filter(pk=pk).update(member_id=None)
        else:
            seen.add(normalised)
            Customer.objects.filter(pk=pk).update(member_id=normalised)


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0001_initial"),
        ("orders", "0004_customer_moves_to_customers"),  # the table has its name here
    ]

    operations = [
        migrations.RenameField(model_name="customer", old_name="loyalty_id", new_name="member_id"),
        migrations.AlterField(
            model_name="customer",
            name="member_id",
            field=models.CharField(blank=True, max_length=40, null=True),
        ),
        migrations.RunPython(blanks_to_null_and_unique, migrations.RunPython.noop),
    ]
