"""labelnb.active (lands with its own issue)."""
