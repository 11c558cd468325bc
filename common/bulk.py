"""New rows of several tables written in one statement.

A checkout writes rows of four or five tables that depend only on what Python already
holds (events, the outbox row, the recorded answer; reservations and their ledger rows).
Each is a multi-row INSERT as `bulk_create` writes it; on PostgreSQL they go to the server
together as one statement of data-modifying CTEs, so the whole write is one round trip.
Elsewhere (the embedded SQLite default) each table is one `bulk_create`.

Each field's value is what `bulk_create` would send (its `pre_save`, so `auto_now`, and its
`get_db_prep_save`); on PostgreSQL the INSERT's text is made once per model and row count,
elsewhere (or for a value that is an expression) Django's own InsertQuery compiles it.
Primary keys are set on the objects, in the order given, as `bulk_create` sets them.

The whole statement's text is made once per shape (each batch's model, row count and
conflict rule) too, in PostgreSQL's own numbered placeholders as well: psycopg rewrites a
`%s` text into them on every execute and caches that only for texts of at most 50 values,
which a checkout's statement exceeds, so the numbered text goes as written (a raw cursor).
Django's query log (DEBUG, assertNumQueries) renders the `%s` text; it is sent then.
"""

import functools
import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import (
    AutoField,
    BooleanField,
    CharField,
    Field,
    ForeignKey,
    Model,
    QuerySet,
    TextField,
)
from django.db.models.constants import OnConflict
from django.db.models.query import RawQuerySet
from django.db.models.sql import InsertQuery


@dataclass(frozen=True)
class Rows:
    """New objects of one model; `skip_conflicts`: rows that clash on a unique key are
    left out silently (INSERT ... ON CONFLICT DO NOTHING), and get no primary key."""

    objs: Sequence[Model]
    skip_conflicts: bool = False


@functools.cache
def _model_insert_fields(model: type[Model]) -> tuple[list[Field], bool]:
    """The fields an INSERT of `model` writes, and whether any has its own placeholder."""
    fields = [
        f for f in model._meta.concrete_fields if not f.generated and not isinstance(f, AutoField)
    ]
    return fields, any(hasattr(f, "get_placeholder") for f in fields)


def _pre_save_on_add(pre_save, obj: Model):
    return pre_save(obj, True)


# A field whose own get_prep_value only checks or casts a value of these exact types
# returns it unchanged. (Whole numbers are wrapped for PostgreSQL by IntegerField's
# get_db_prep_value, so those fields are prepared like any other.)
_UNCHANGED_BY = {
    CharField.get_prep_value: (str, type(None)),
    TextField.get_prep_value: (str, type(None)),
    BooleanField.get_prep_value: (bool, type(None)),
}


def _sent_as_is(field: Field) -> frozenset[type]:
    """The exact types of value that `field.get_db_prep_save` returns unchanged, so they
    need not go through it: a text or a boolean for a field that only checks one, a whole
    number or None for a foreign key to an auto key. Empty for any other field (numbers,
    dates, decimals, JSON and custom fields are always prepared)."""
    cls = type(field)
    if isinstance(field, ForeignKey):
        plain = cls.get_db_prep_save is ForeignKey.get_db_prep_save
        return _sent_as_is(field.target_field) if plain else frozenset()
    if isinstance(field, AutoField):  # as a foreign key's target: its pk, checked as int
        return frozenset({int, type(None)})
    unchanged = (
        cls.get_db_prep_save is Field.get_db_prep_save
        and cls.get_db_prep_value is Field.get_db_prep_value
    )
    return frozenset(_UNCHANGED_BY.get(cls.get_prep_value, ()) if unchanged else ())


@functools.cache
def _model_values(model: type[Model]) -> tuple[list, list]:
    """Per insert field of `model`: how its value is read off a new object (its `pre_save`,
    or the attribute itself where that is all `pre_save` does), and how it becomes the value
    sent: its `get_db_prep_save`, and the types of value that sends unchanged. Bound once
    instead of looked up per row."""
    fields, _ = _model_insert_fields(model)
    reads = [
        operator.attrgetter(f.attname)
        if type(f).pre_save is Field.pre_save
        else functools.partial(_pre_save_on_add, f.pre_save)
        for f in fields
    ]
    return reads, [(f.get_db_prep_save, _sent_as_is(f)) for f in fields]


@functools.cache
def _bulk_queryset(model: type[Model]) -> QuerySet:
    """The queryset bulk_create would prepare `model`'s new objects with (never evaluated)."""
    return model._default_manager.get_queryset()


@functools.cache
def _insert_sql(model: type[Model], count: int, *, skip_conflicts: bool, returning: bool) -> str:
    """The text of a multi-row INSERT of `count` rows, as InsertQuery writes it (PostgreSQL)."""
    qn = connections[DEFAULT_DB_ALIAS].ops.quote_name
    opts = model._meta
    fields, _ = _model_insert_fields(model)
    columns = ", ".join(qn(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    # Table and column names only; every value is a parameter.
    sql = f"INSERT INTO {qn(opts.db_table)} ({columns}) VALUES "  # noqa: S608
    sql += ", ".join([row] * count)
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {qn(opts.db_table)}.{qn(opts.pk.column)}"
    return sql


# A batch as the statement's text sees it: its model, row count and whether clashes are skipped.
Shape = tuple[type[Model], int, bool]


def numbered(sql: str) -> str:
    """`sql` (a text of ours: quoted names and `%s` placeholders, no other percent sign) in
    PostgreSQL's own placeholders, `$1`, `$2`, ..., as psycopg would send it."""
    parts = sql.split("%s")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


def _statement(texts: Sequence[str], pk_columns: Sequence[str | None]) -> str:
    """One statement of data-modifying CTEs; `pk_columns`: the column each CTE returns, or
    None for one that skips conflicts (its new rows get no pk back)."""
    ctes = [f"rows_{n} AS ({sql})" for n, sql in enumerate(texts)]
    selects = [
        f"SELECT {n}, {pk} FROM rows_{n}"  # noqa: S608 - names, no values
        for n, pk in enumerate(pk_columns)
        if pk is not None
    ]
    # A data-modifying CTE runs whether or not it is read; the select hands back the pks.
    return "WITH " + ", ".join(ctes) + " " + (" UNION ALL ".join(selects) or "SELECT 1")


@functools.lru_cache(maxsize=1024)
def _shaped_statement(shapes: tuple[Shape, ...]) -> tuple[str, str]:
    """insert_rows's statement for batches of these shapes (PostgreSQL, plain values): its
    text with `%s` placeholders, and with numbered ones."""
    qn = connections[DEFAULT_DB_ALIAS].ops.quote_name
    texts = [
        _insert_sql(model, count, skip_conflicts=skip, returning=not skip)
        for model, count, skip in shapes
    ]
    pks = [None if skip else qn(model._meta.pk.column) for model, _, skip in shapes]
    statement = _statement(texts, pks)
    return statement, numbered(statement)


def _sends_as_written(connection) -> bool:
    """Whether a numbered text may go as written: values bound apart from the text (psycopg's
    extended protocol, as every statement is sent then) and no query log, which renders a
    `%s` text only (DEBUG, assertNumQueries)."""
    return connection.features.uses_server_side_binding and not connection.queries_logged


def _raw_cursor(connection):
    """Django's cursor over psycopg's raw one, which sends the text as written: Django's
    execute wrappers and database errors apply as on any other cursor."""
    connection.ensure_connection()
    return connection.make_cursor(psycopg.RawCursor(connection.connection))


def _compiled(rows: Rows, connection, *, returning: bool) -> tuple[str, tuple, bool]:
    """The batch's INSERT and its values; True when its text is the one made per model and
    row count (plain values), False when InsertQuery compiled it."""
    objs = list(rows.objs)
    model = type(objs[0])
    opts = model._meta
    # What bulk_create does first: pk defaults, related objects' ids copied to the row.
    _bulk_queryset(model)._prepare_for_bulk_create(objs)
    fields, placeholders = _model_insert_fields(model)
    if connection.vendor == "postgresql" and connection.alias == DEFAULT_DB_ALIAS:
        # Plain values need no compiler: each field's pre_save and database value, as
        # InsertQuery takes them, under a text made once per model and row count.
        reads, preps = _model_values(model)
        values = [read(obj) for obj in objs for read in reads]
        plain = not placeholders and not any(hasattr(v, "resolve_expression") for v in values)
        if plain:
            params = tuple(
                v if type(v) in as_is else prep(v, connection)
                for (prep, as_is), v in zip(itertools.cycle(preps), values)
            )
            sql = _insert_sql(
                model, len(objs), skip_conflicts=rows.skip_conflicts, returning=returning
            )
            return sql, params, True
    query = InsertQuery(model, on_conflict=OnConflict.IGNORE if rows.skip_conflicts else None)
    query.insert_values(fields, objs)
    compiler = query.get_compiler(connection=connection)
    compiler.returning_fields = opts.db_returning_fields if returning else None
    [(sql, params)] = compiler.as_sql()
    return sql, tuple(params), False


def _done(objs: Sequence[Model], pks: Sequence, using: str) -> None:
    for obj, pk in zip(objs, pks, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = using


def insert_rows(*batches: Sequence[Model] | Rows, using: str = DEFAULT_DB_ALIAS) -> None:
    """Insert every batch (a list of new objects of one model, or `Rows`) in one statement
    on PostgreSQL (a single batch too: its text is made once, not compiled by InsertQuery);
    each batch's objects get their primary keys. Empty batches are skipped."""
    wanted = [b if isinstance(b, Rows) else Rows(b) for b in batches]
    wanted = [b for b in wanted if b.objs]
    if not wanted:
        return
    connection = connections[using]
    if connection.vendor != "postgresql":
        for rows in wanted:
            type(rows.objs[0])._default_manager.using(using).bulk_create(
                list(rows.objs), ignore_conflicts=rows.skip_conflicts
            )
        return
    texts, params, shaped = [], [], True
    for rows in wanted:
        sql, part, plain = _compiled(rows, connection, returning=not rows.skip_conflicts)
        texts.append(sql)
        params.extend(part)
        shaped = shaped and plain
    if shaped:
        shapes = tuple((type(r.objs[0]), len(r.objs), r.skip_conflicts) for r in wanted)
        statement, as_numbered = _shaped_statement(shapes)
    else:  # an expression or a field's own placeholder: the compiled texts, put together
        qn = connection.ops.quote_name
        pk_columns = [
            None if r.skip_conflicts else qn(type(r.objs[0])._meta.pk.column) for r in wanted
        ]
        statement, as_numbered = _statement(texts, pk_columns), None
    raw = as_numbered is not None and _sends_as_written(connection)
    with (
        transaction.atomic(using=using, savepoint=False),
        _raw_cursor(connection) if raw else connection.cursor() as cursor,
    ):
        cursor.execute(as_numbered if raw else statement, params)
        returned = cursor.fetchall() if any(not r.skip_conflicts for r in wanted) else []
    pks: dict[int, list] = {n: [] for n in range(len(wanted))}
    for n, pk in returned:
        pks[n].append(pk)
    for n, rows in enumerate(wanted):
        if not rows.skip_conflicts:
            _done(rows.objs, pks[n], using)


def insert_unless_taken(obj: Model, *, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Insert `obj` unless a unique key of it is taken (INSERT ... ON CONFLICT DO NOTHING
    RETURNING: one statement, no savepoint). True, with its pk set, when it was inserted."""
    connection = connections[using]
    sql, params, _ = _compiled(Rows([obj], skip_conflicts=True), connection, returning=True)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    _done([obj], [row[0]], using)
    return True


def insert_or_read(
    obj: Model, others: QuerySet | RawQuerySet, *, using: str = DEFAULT_DB_ALIAS
) -> list[Model]:
    """Insert `obj` unless a unique key of it is taken, and read `others` (a queryset of its
    model, as it stood before the insert; or a raw one that selects every column of the
    model in field order): one statement on PostgreSQL. Returns what was read; `obj` has
    its pk set when it was inserted (`obj._state.adding` is False then)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        found = list(others.using(using))
        insert_unless_taken(obj, using=using)
        return found
    opts = obj._meta
    names = [f.attname for f in opts.concrete_fields]
    insert, insert_params, _ = _compiled(
        Rows([obj], skip_conflicts=True), connection, returning=True
    )
    if isinstance(others, RawQuerySet):  # its text as given: nothing to compile
        read, read_params = others.raw_query, tuple(others.params or ())
    else:
        read, read_params = others.using(using).values_list(*names).query.sql_with_params()
    pk = connection.ops.quote_name(opts.pk.column)
    nulls = ", ".join(["NULL"] * len(names))
    # One row tells the new pk (NULL when a key was taken); one row per row read.
    # Django's compiled SQL and column names only; every value is a parameter.
    statement = "".join(
        [
            f"WITH new AS ({insert})",
            f" SELECT true, (SELECT {pk} FROM new), {nulls}",  # noqa: S608
            f" UNION ALL SELECT false, NULL, read.* FROM ({read}) AS read",  # noqa: S608
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, (*insert_params, *read_params))
        rows = cursor.fetchall()
    [new_pk] = [row[1] for row in rows if row[0]]
    if new_pk is not None:
        _done([obj], [new_pk], using)
    return [type(obj).from_db(using, names, row[2:]) for row in rows if not row[0]]
