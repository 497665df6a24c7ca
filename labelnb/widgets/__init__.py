"""labelnb.widgets (lands with its own issue)."""
