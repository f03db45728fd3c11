"""Expert review of records in Argilla."""
