"""login failures keep the client address; email keys NFKC and case-folded

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 12:44:03.803747

Failed sign-ins are now limited per (email, client address), so each record keeps its address (None for the records
made before: they still count towards the per-email ceiling, and expire within the hour).

Emails are now compared after Unicode NFKC and case folding instead of `strip().lower()`. Every account whose email
gives a different key under the new rule is moved to it, except where that would collide: a key already stored
stays with its account, and among several accounts whose emails now fold to the same free key the oldest takes it.
An account left behind keeps its old key, and sign-in still finds it by that key (its owner's exact old spelling,
in any case), so nobody is locked out and no two accounts merge. An email too long for the column once normalised
keeps its old key too.
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMAIL_KEY_LENGTH = 254


def upgrade() -> None:
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_address', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_login_failures_failed_at', ['failed_at'], unique=False)
    _rekey_users()


def _email_key(email: str) -> str:
    # The rule of server/services/accounts.py email_key() when this revision was written (kept here: a migration
    # must do the same thing whatever the code becomes later).
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email.strip()).casefold())


def _rekey_users() -> None:
    conn = op.get_bind()
    users = sa.table("users", sa.column("id"), sa.column("email"), sa.column("email_key"), sa.column("created_at"))
    rows = conn.execute(
        sa.select(users.c.id, users.c.email, users.c.email_key).order_by(users.c.created_at, users.c.id)
    ).all()
    held = {key for _, _, key in rows}
    moves: dict[str, str] = {}
    for user_id, email, old in rows:
        new = _email_key(email)
        if new == old or new in held or len(new) > EMAIL_KEY_LENGTH:
            continue
        held.add(new)
        moves[user_id] = new
    # A new key is always in normal form and an old key that moves never is: no update meets another's old key.
    for user_id, new in moves.items():
        conn.execute(sa.update(users).where(users.c.id == user_id).values(email_key=new))


def downgrade() -> None:
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failures_failed_at')
        batch_op.drop_column('client_address')
