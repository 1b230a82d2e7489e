"""CSV layouts of the billing app: usage records and payments."""
