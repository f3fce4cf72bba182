"""Deletion requests (DESIGN sections 5.3 to 5.5): the processor that removes a subject set's
data, the suppression of re-ingestion, and the receipt that proves the deletion."""
