"""labelnb.jobs (lands with its own issue)."""
