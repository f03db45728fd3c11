"""Record types and the base for users' domain schemas."""
