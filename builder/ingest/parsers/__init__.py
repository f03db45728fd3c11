"""One module per input format; each is a row of builder/ingest/formats.py's table."""
