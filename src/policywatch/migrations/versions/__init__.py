"""One module per schema revision; Alembic loads them by path, in revision order."""
