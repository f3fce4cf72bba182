"""Event retention (issue 20, storage limitation): a project keeps its events for N months and
the sweep removes older ones in bounded batches, audited like a deletion (counts, no ids)."""
