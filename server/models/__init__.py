"""All models, imported here so that metadata (and Alembic) sees every table."""

from server.models.accounts import Device, LoginFailure, Token, User
from server.models.base import Base

__all__ = ["Base", "Device", "LoginFailure", "Token", "User"]
