"""labelnb.formats (lands with its own issue)."""
