"""hardening: revision metadata, 64-bit Zendesk ids, search-log client key

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("kb_article_revisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("visibility", sa.String(length=10), nullable=True))
    # Older revisions take the metadata their article has now: the best record there is of them.
    op.execute(
        "UPDATE kb_article_revisions SET "
        "category = (SELECT category FROM kb_articles WHERE kb_articles.id = kb_article_revisions.article_id), "
        "tags = (SELECT tags FROM kb_articles WHERE kb_articles.id = kb_article_revisions.article_id), "
        "visibility = (SELECT visibility FROM kb_articles WHERE kb_articles.id = kb_article_revisions.article_id)"
    )
    with op.batch_alter_table("kb_article_revisions", schema=None) as batch_op:
        batch_op.alter_column("category", existing_type=sa.String(length=60), nullable=False)
        batch_op.alter_column("tags", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("visibility", existing_type=sa.String(length=10), nullable=False)

    with op.batch_alter_table("kb_search_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_key", sa.String(length=64), nullable=False, server_default=""))
        batch_op.create_index(
            "ix_kb_search_log_client_query", ["client_key", "normalized_query", "created_at"], unique=False
        )

    for table, column in (
        ("tickets", "zendesk_id"),
        ("ticket_comments", "zendesk_comment_id"),
        ("organizations", "zendesk_organization_id"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=True)


def downgrade():
    for table, column in (
        ("organizations", "zendesk_organization_id"),
        ("ticket_comments", "zendesk_comment_id"),
        ("tickets", "zendesk_id"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=True)

    with op.batch_alter_table("kb_search_log", schema=None) as batch_op:
        batch_op.drop_index("ix_kb_search_log_client_query")
        batch_op.drop_column("client_key")

    with op.batch_alter_table("kb_article_revisions", schema=None) as batch_op:
        batch_op.drop_column("visibility")
        batch_op.drop_column("tags")
        batch_op.drop_column("category")
