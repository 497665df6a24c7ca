"""labelnb.dashboard (lands with its own issue)."""
