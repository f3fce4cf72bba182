"""Mixpanel-compatible ingestion: /track, /engage, /groups and /import (DESIGN section 7)."""
