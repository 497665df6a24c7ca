"""labelnb.segment (lands with its own issue)."""
