"""Mixpanel's published limits, shared by decoding and validation."""

MAX_RECORDS = 2000
MAX_BODY_BYTES = 10 * 1024 * 1024  # uncompressed, per request
MAX_RECORD_BYTES = 1024 * 1024  # one record as compact JSON
MAX_PROPERTIES = 254  # "fewer than 255 properties"
MAX_COLLECTION_ITEMS = 254  # nested objects and lists: "fewer than 255" keys or elements
MAX_NESTING_DEPTH = 3
MAX_ID_LENGTH = 255
MAX_EVENT_NAME_LENGTH = 255
MAX_INSERT_ID_LENGTH = 36
# Mixpanel truncates every string value to this many characters.
MAX_STRING_LENGTH = 255
