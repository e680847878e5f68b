"""Reference and demo data for La Possession."""
