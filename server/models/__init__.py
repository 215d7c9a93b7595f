"""All models, imported here so that metadata (and Alembic) sees every table."""

# A feature package's tables (imported as a module: its models import server.models.base, which runs this file).
import server.attachments.models  # noqa: F401
from server.models.accounts import Device, LoginFailure, Token, User
from server.models.base import Base
from server.models.notes import AppliedMutation, DeviceNoteView, Note, NoteRevision  # noqa: F401  (sync)
from server.models.push import PushDelivery, PushSubscription, ReminderOccurrence  # noqa: F401  (push)

__all__ = ["Base", "Device", "LoginFailure", "Token", "User"]
