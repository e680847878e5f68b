"""Persistence: SQLModel tables, database engine and sessions, Alembic migrations."""
