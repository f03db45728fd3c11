"""langextract providers owned by dsforge."""
