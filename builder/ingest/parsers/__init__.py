"""One module per input format; each registers itself with `builder.ingest.formats`."""
