"""kb_categories: categories as data (labels in both languages, order, archived), articles' and
revisions' categories pointing at them

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 09:00:00

"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# The nine categories the portal had in code until now, with their labels then (English, and the
# Spanish of the translation catalog).
STARTING_CATEGORIES = (
    ("sso-login", "Inicio de sesión con operador (SSO)", "Operator login (SSO)"),
    ("playback", "Reproducción y códigos de error", "Playback and error codes"),
    ("drm", "DRM y protección de contenido", "DRM and content protection"),
    ("subtitles-audio", "Subtítulos y pistas de audio", "Subtitles and audio tracks"),
    ("devices-apps", "Dispositivos y apps", "Devices and apps"),
    ("catalog-metadata", "Feeds de catálogo y metadatos", "Catalogue and metadata feeds"),
    ("reports-billing", "Reportes y facturación", "Reports and billing"),
    ("marketing", "Materiales de marketing", "Marketing assets"),
    ("support-process", "Cómo funciona el soporte", "How support works"),
)


def upgrade():
    categories = op.create_table(
        "kb_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("label_es", sa.String(length=100), nullable=False),
        sa.Column("label_en", sa.String(length=100), nullable=False),
        sa.Column("description_es", sa.String(length=500), nullable=False),
        sa.Column("description_en", sa.String(length=500), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_categories")),
        sa.UniqueConstraint("key", name=op.f("uq_kb_categories_key")),
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    row = {"description_es": "", "description_en": "", "archived": False, "created_at": now, "updated_at": now}
    op.bulk_insert(
        categories,
        [
            {"key": key, "label_es": spanish, "label_en": english, "position": position, **row}
            for position, (key, spanish, english) in enumerate(STARTING_CATEGORIES, start=1)
        ],
    )
    # The code refused any other category, so none should exist; were one there, it is kept (named
    # by its key) rather than failing the foreign keys below.
    connection = op.get_bind()
    used = sa.text("SELECT category FROM kb_articles UNION SELECT category FROM kb_article_revisions")
    others = sorted({key for (key,) in connection.execute(used)} - {key for key, _es, _en in STARTING_CATEGORIES})
    if others:
        op.bulk_insert(
            categories,
            [
                {"key": key, "label_es": key, "label_en": key, "position": position, **row}
                for position, key in enumerate(others, start=len(STARTING_CATEGORIES) + 1)
            ],
        )
    for table in ("kb_articles", "kb_article_revisions"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_category_kb_categories"), "kb_categories", ["category"], ["key"]
            )


def downgrade():
    for table in ("kb_article_revisions", "kb_articles"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_category_kb_categories"), type_="foreignkey")
    op.drop_table("kb_categories")
