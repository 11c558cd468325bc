"""A GiST index on each location's point on the unit sphere, so that the routing snapshot
finds the nearest locations to a customer without reading the whole chain
(`inventory.snapshot`, `stores.geo.unit_sphere_sql`), on PostgreSQL's `cube` extension.
PostgreSQL only: the embedded SQLite reads every holder, as before. Going back drops the
index and leaves the extension, which something else may use."""

from django.db import migrations

INDEX = "stores_location_unit_sphere"
# The same expression as stores.geo.unit_sphere_sql("latitude", "longitude"): the planner
# uses the index only for that expression.
CREATE = f"""
CREATE INDEX IF NOT EXISTS {INDEX} ON stores_location USING gist (
    cube(ARRAY[cos(radians(latitude)) * cos(radians(longitude)),
               cos(radians(latitude)) * sin(radians(longitude)), sin(radians(latitude))])
)"""


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS cube")
        schema_editor.execute(CREATE)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("stores", "0004_staff_role_warehouse_operator"),
    ]

    operations = [migrations.RunPython(create_index, drop_index)]
