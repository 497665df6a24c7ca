"""labelnb.prelabel (lands with its own issue)."""
