"""`field__any=[...]`: a text column equal to any of a list of values, as the store's statements
write it (issue 20): `field = ANY(%s::text[])` with the whole list as one parameter on
PostgreSQL, an IN list elsewhere.

One array parameter keeps the statement short, so psycopg parses it once and caches it where an
IN list of 500 placeholders is parsed anew on every query (a tenth of an export's job went to
that), and it is the shape a store distributed on distinct_id routes to the shards of the ids.
"""

from django.core.exceptions import EmptyResultSet
from django.db.models import CharField, Lookup


@CharField.register_lookup
class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self):
        if isinstance(self.rhs, str) or not hasattr(self.rhs, "__iter__"):
            raise TypeError("__any takes a list of values.")
        return [str(value) for value in self.rhs]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = self.rhs
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::text[])", [*lhs_params, values]
        if not values:
            raise EmptyResultSet
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]
