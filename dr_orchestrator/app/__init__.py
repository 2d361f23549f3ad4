"""Use cases wiring the pieces together (one module per area); the CLI calls these."""
