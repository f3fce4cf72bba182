"""Mixpanel's engage query (`/api/2.0/engage`, "Query Profiles"): the part its clients use to
select profiles before they change or delete them (`mixpanel-utils`' `people_*` with
`query_params`, `deduplicate_people`), and how an owner finds the distinct_id behind an email.

- `expression`: the `where` language (a tokenizer and a recursive-descent parser; bounded).
- `evaluation`: the expression over one profile's properties, in Python (the reference).
- `postgresql`: the same expression as one SQL condition over the properties column.
- `parameters`: the request's parameters, checked.
- `sessions`: signed, expiring session ids that keep later pages consistent with the first.
- `selectors`: a page of matching profiles.
- `authentication`, `views`, `urls`: the endpoint.
"""
