"""labelnb.metrics (lands with its own issue)."""
