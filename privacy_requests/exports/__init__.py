"""Export packages (DESIGN section 5.2): the processor that writes them, their storage and
purging, and the signed links that download them (and deletion receipts)."""
