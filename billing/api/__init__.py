"""REST API of billing, mounted under ``/api/v1/``: usage ingestion and usage records."""
