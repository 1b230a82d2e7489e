"""``field__any=values``: ``field__in`` for long lists of values, one array parameter on PostgreSQL.

A bill-run chunk filters by hundreds or thousands of ids at a time (its customers, their events,
their lines). ``__in`` sends each as its own parameter: Django prepares and compiles every
placeholder, psycopg re-parses a query text of thousands of ``%s`` (too long for its cache) on
every call, and PostgreSQL parses a list as long. On PostgreSQL ``__any`` sends
``column = ANY(%s::type[])`` with the values as one array instead; elsewhere (SQLite in
development) it is ``__in`` itself. Same rows either way, None never matching. Foreign keys
take model instances as ``__in`` does.
"""

from django.db.models import Field, ForeignObject
from django.db.models.expressions import ColPairs
from django.db.models.fields.related_lookups import RelatedIn
from django.db.models.lookups import In


class _ArrayOnPostgres:
    lookup_name = "any"

    def as_postgresql(self, compiler, connection):
        if not self.rhs_is_direct_value() or isinstance(self.lhs, ColPairs):
            return self.as_sql(compiler, connection)  # a subquery, a composite key: as __in
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [
            field.get_db_prep_value(value, connection, prepared=True)
            for value in self.rhs
            if value is not None
        ]
        return f"{lhs} = ANY(%s::{field.cast_db_type(connection)}[])", (*lhs_params, values)


@Field.register_lookup
class AnyOf(_ArrayOnPostgres, In):
    pass


@ForeignObject.register_lookup
class RelatedAnyOf(_ArrayOnPostgres, RelatedIn):
    pass
