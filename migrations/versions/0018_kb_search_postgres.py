"""kb_search_postgres: the knowledge-base search in PostgreSQL (SEARCH_BACKEND=postgres)

Text search configurations edye_es / edye_en (Spanish and English stemming after accent folding),
one row per live article with its weighted text (kb_search_documents), and the words the articles
use with a trigram index for typo tolerance (kb_search_words). Only on PostgreSQL: elsewhere the
search stays on Whoosh. Needs the unaccent and pg_trgm extensions (created here when the database
user may; otherwise a superuser creates them first).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 21:00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

CONFIGURATIONS = {"edye_es": ("spanish", "spanish_stem"), "edye_en": ("english", "english_stem")}


def _on_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    if not _on_postgresql():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, (language, stemmer) in CONFIGURATIONS.items():
        op.execute(f"CREATE TEXT SEARCH CONFIGURATION {name} (COPY = pg_catalog.{language})")
        op.execute(
            f"ALTER TEXT SEARCH CONFIGURATION {name} ALTER MAPPING FOR hword, hword_part, word WITH unaccent, {stemmer}"
        )
    op.execute(
        """
        CREATE TABLE kb_search_documents (
            article_id integer NOT NULL,
            language varchar(2) NOT NULL,
            visibility varchar(10) NOT NULL,
            category varchar(60) NOT NULL,
            slug varchar(200) NOT NULL,
            title varchar(300) NOT NULL,
            tags text[] NOT NULL,
            translation_id integer,
            body text NOT NULL,
            document tsvector NOT NULL,
            CONSTRAINT pk_kb_search_documents PRIMARY KEY (article_id),
            CONSTRAINT fk_kb_search_documents_article_id_kb_articles FOREIGN KEY (article_id)
                REFERENCES kb_articles (id) ON DELETE CASCADE
        )
        """
    )
    op.execute("CREATE INDEX ix_kb_search_documents_document ON kb_search_documents USING gin (document)")
    op.execute("CREATE INDEX ix_kb_search_documents_filter ON kb_search_documents (language, visibility, category)")
    op.execute(
        """
        CREATE TABLE kb_search_words (
            language varchar(2) NOT NULL,
            word text NOT NULL,
            lexeme text NOT NULL,
            spelling text NOT NULL,
            documents integer NOT NULL DEFAULT 1,
            CONSTRAINT pk_kb_search_words PRIMARY KEY (language, word)
        )
        """
    )
    op.execute("CREATE INDEX ix_kb_search_words_word_trgm ON kb_search_words USING gin (word gin_trgm_ops)")
    op.execute("CREATE INDEX ix_kb_search_words_lexeme ON kb_search_words (language, lexeme)")


def downgrade():
    if not _on_postgresql():
        return
    op.execute("DROP TABLE kb_search_words")
    op.execute("DROP TABLE kb_search_documents")
    for name in CONFIGURATIONS:
        op.execute(f"DROP TEXT SEARCH CONFIGURATION {name}")
    # The extensions stay: other objects of the database may use them, and dropping them needs a superuser.
