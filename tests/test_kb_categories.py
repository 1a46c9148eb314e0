"""Knowledge-base categories as data: the migration's nine, the administrator's screen (audited),
archived categories, and categories.yaml through `flask kb import` and `export`."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select

from kb import services
from kb.categories import MAX_DESCRIPTION_LENGTH, MAX_LABEL_LENGTH
from kb.category_file import CATEGORIES_FILE, read_categories
from kb.models import Article, ArticleRevision, Category
from portal import create_app
from portal.core.audit import AuditEntry
from portal.core.extensions import db
from tests.conftest import config_for_tests, fresh_database, run_cli
from tests.hostile_html import markup_problems
from tests.hostile_payloads import PAYLOADS, TEMPLATE_PROBE

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "content" / "kb" / CATEGORIES_FILE
NON_ADMIN_STAFF = ("agent_l1", "agent_l2", "vp", "tech_team", "business")
HTMX = {"HX-Request": "true"}


def keys_in_order() -> list[str]:
    return list(db.session.scalars(select(Category.key).order_by(Category.position)))


def audit_actions() -> list[str]:
    """The category changes in the audit log, oldest first."""
    statement = select(AuditEntry.action).where(AuditEntry.action.startswith("kb.category")).order_by(AuditEntry.id)
    return list(db.session.scalars(statement))


def article_text(category: str, title="Guía") -> services.ArticleText:
    return services.ArticleText(title, "Texto.", category, ["x"], "public", note="primera", publish=True)


def article_file(slug: str, category: str, language="es") -> str:
    return (
        f"---\ntitle: Artículo {slug}\nslug: {slug}\nlanguage: {language}\ncategory: {category}\n"
        "visibility: public\ntags: [prueba]\n---\n\nTexto del artículo.\n"
    )


def write(folder: Path, relative: str, text: str) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# The migration ---------------------------------------------------------------------------------


def test_migration_seeds_the_nine_of_the_shipped_file_and_keeps_every_article(tmp_path):
    with fresh_database(tmp_path) as url:
        app = create_app(config_for_tests(url, tmp_path))
        with app.app_context():
            upgrade(revision="0016")
            with db.engine.begin() as connection:
                connection.execute(
                    sa.text(
                        "INSERT INTO kb_articles (id, slug, language, category, tags, visibility, status, "
                        "latest_revision_number, created_at) VALUES (1, 'guia', 'es', 'drm', '[]', 'public', "
                        "'published', 1, '2026-01-01 00:00:00')"
                    )
                )
                connection.execute(
                    sa.text(
                        "INSERT INTO kb_article_revisions (id, article_id, number, title, body, search_text, "
                        "created_at, note, state, category, tags, visibility) VALUES (1, 1, 1, 'Guía', 'Texto', "
                        "'Texto', '2026-01-01 00:00:00', '', 'published', 'drm', '[]', 'public')"
                    )
                )
                connection.execute(sa.text("UPDATE kb_articles SET published_revision_id = 1"))
            upgrade()
            with db.engine.connect() as connection:
                rows = connection.execute(
                    sa.text("SELECT key, label_es, label_en, archived FROM kb_categories ORDER BY position")
                ).all()
                kept = connection.execute(
                    sa.text(
                        "SELECT a.category, r.category, r.title FROM kb_articles a "
                        "JOIN kb_article_revisions r ON r.id = a.published_revision_id"
                    )
                ).all()
            shipped = [
                (entry.key, entry.names.label_es, entry.names.label_en, False) for entry in read_categories(SHIPPED)
            ]
            assert [tuple(row) for row in rows] == shipped and len(rows) == 9
            assert rows[1][:3] == ("playback", "Reproducción y códigos de error", "Playback and error codes")
            assert [tuple(row) for row in kept] == [("drm", "drm", "Guía")]
            # Migrations turn SQLite's foreign keys off on their connection; a new one has them on.
            db.engine.dispose()
            with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as connection:
                connection.execute(sa.text("UPDATE kb_articles SET category = 'cooking'"))
            downgrade(revision="0016")
            with db.engine.connect() as connection:
                assert "kb_categories" not in sa.inspect(connection).get_table_names()
                assert connection.execute(sa.text("SELECT count(*) FROM kb_article_revisions")).scalar() == 1
            db.engine.dispose()


# The screen ------------------------------------------------------------------------------------


def test_the_administrator_adds_renames_reorders_and_archives_with_audit(client, login_as):
    login_as("ticket_admin", language="en")
    page = client.get("/kb/categories")
    assert page.status_code == 200 and "Playback and error codes" in page.get_data(as_text=True)
    data = {"key": "billing-disputes", "label_es": "Disputas de facturación", "label_en": "Billing disputes"}
    created = client.post("/kb/categories", data=data, headers=HTMX)
    assert created.status_code == 201 and "Billing disputes" in created.get_data(as_text=True)
    assert created.headers["HX-Trigger"] == "categories-changed"
    assert keys_in_order()[-1] == "billing-disputes"

    renamed = client.post(
        "/kb/categories/billing-disputes/edit",
        data={"label_es": "Reclamos de facturación", "label_en": "Billing claims", "description_en": "Invoices."},
    )
    assert renamed.status_code == 302
    category = db.session.scalar(select(Category).where(Category.key == "billing-disputes"))
    assert (category.label_es, category.label_en, category.description_en) == (
        "Reclamos de facturación",
        "Billing claims",
        "Invoices.",
    )

    moved = client.post("/kb/categories/billing-disputes/move", data={"direction": "up"}, headers=HTMX)
    assert moved.status_code == 200 and 'id="category-billing-disputes"' in moved.get_data(as_text=True)
    assert keys_in_order()[-2:] == ["billing-disputes", "support-process"]
    assert client.post("/kb/categories/sso-login/move", data={"direction": "up"}).status_code == 302
    assert keys_in_order()[0] == "sso-login"

    assert client.post("/kb/categories/billing-disputes/archive", data={"archived": "1"}).status_code == 302
    assert db.session.get(Category, category.id).archived
    assert "Unarchive" in client.get("/kb/categories").get_data(as_text=True)
    assert audit_actions() == [
        "kb.category_created",
        "kb.category_renamed",
        "kb.category_moved",
        "kb.category_archived",
    ]
    moved_entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "kb.category_moved"))
    assert (moved_entry.before, moved_entry.after, moved_entry.target_label) == (
        {"position": 10},
        {"position": 9},
        "billing-disputes",
    )
    assert "/kb/categories" in client.get("/kb/manage").get_data(as_text=True)


@pytest.mark.parametrize("role", ("partner", *NON_ADMIN_STAFF))
def test_only_the_administrator_manages_categories(client, login_as, role):
    login_as(role)
    requests = [
        ("GET", "/kb/categories", {}),
        ("POST", "/kb/categories", {"key": "nueva", "label_es": "Nueva", "label_en": "New"}),
        ("GET", "/kb/categories/playback/edit", {}),
        ("POST", "/kb/categories/playback/edit", {"label_es": "X", "label_en": "X"}),
        ("POST", "/kb/categories/playback/move", {"direction": "down"}),
        ("POST", "/kb/categories/playback/archive", {"archived": "1"}),
    ]
    for method, url, data in requests:
        assert client.open(url, method=method, data=data).status_code == 403, (method, url)
    assert keys_in_order()[:2] == ["sso-login", "playback"] and db.session.scalar(select(func.count(Category.id))) == 9
    assert audit_actions() == []
    if role != "partner":
        assert "/kb/categories" not in client.get("/kb/manage").get_data(as_text=True)


@pytest.mark.parametrize(
    "data,field,message",
    [
        ({"key": "Billing Disputes", "label_es": "A", "label_en": "B"}, "key", "lowercase letters"),
        ({"key": "x", "label_es": "A", "label_en": "B"}, "key", "2 to 40"),
        ({"key": "playback", "label_es": "A", "label_en": "B"}, "key", "already uses this key"),
        ({"key": "nueva", "label_es": " \u200b ", "label_en": "B"}, "label_es", "A name is required"),
        ({"key": "nueva", "label_es": "A", "label_en": "b" * 101}, "label_en", "100"),
        ({"key": "nueva", "label_es": "A", "label_en": "B", "description_es": "d" * 501}, "description_es", "500"),
    ],
)
def test_bad_input_is_422_on_its_field_and_stores_nothing(client, login_as, data, field, message):
    login_as("ticket_admin", language="en")
    response = client.post("/kb/categories", data=data, headers=HTMX)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and f'id="{field}-error"' in page and message in page
    assert db.session.scalar(select(func.count(Category.id))) == 9 and audit_actions() == []


def test_a_rename_without_a_name_is_422_and_changes_nothing(client, login_as):
    login_as("ticket_admin", language="en")
    response = client.post("/kb/categories/drm/edit", data={"label_es": "", "label_en": "DRM only"})
    assert response.status_code == 422 and 'id="label_es-error"' in response.get_data(as_text=True)
    drm = db.session.scalar(select(Category).where(Category.key == "drm"))
    assert (drm.label_es, drm.label_en) == ("DRM y protección de contenido", "DRM and content protection")
    assert client.get("/kb/categories/nope/edit").status_code == 404
    assert client.post("/kb/categories/drm/move", data={"direction": "sideways"}).status_code == 400
    assert audit_actions() == []


def test_an_archived_category_keeps_its_articles_but_takes_no_new_ones(client, login_as):
    article = services.create_article(None, "en", "drm-guide", article_text("drm", title="DRM guide"))
    login_as("ticket_admin", language="en")
    client.post("/kb/categories/drm/archive", data={"archived": "1"})
    assert client.get("/kb/en/drm-guide").status_code == 200
    assert "DRM guide" in client.get("/kb/category/drm").get_data(as_text=True)
    assert "/kb/category/drm" in client.get("/kb/").get_data(as_text=True)
    assert 'value="drm"' not in client.get("/kb/new").get_data(as_text=True)
    new = {"language": "en", "slug": "otra", "title": "Otra", "body": "Texto.", "category": "drm"}
    refused = client.post("/kb/new", data={**new, "visibility": "public", "translation_id": "0"})
    assert refused.status_code == 422 and db.session.scalar(select(func.count(Article.id))) == 1
    editor = client.get("/kb/en/drm-guide/edit").get_data(as_text=True)
    assert '<option selected value="drm">DRM and content protection (archived)</option>' in editor
    edit = {"title": "DRM guide 2", "body": "Más texto.", "category": "drm", "visibility": "public", "tags": "x"}
    saved = client.post("/kb/en/drm-guide/edit", data={**edit, "note": "n", "base_revision": "1", "action": "publish"})
    assert saved.status_code == 302 and db.session.get(Article, article.id).latest_revision_number == 2
    client.post("/kb/categories/drm/archive", data={"archived": "0"})
    assert 'value="drm"' in client.get("/kb/new").get_data(as_text=True)
    assert audit_actions()[-2:] == ["kb.category_archived", "kb.category_unarchived"]


def test_home_category_and_article_pages_name_categories_in_the_readers_language(client, login_as):
    services.create_article(None, "es", "guia", article_text("subtitles-audio", title="Guía"))
    services.create_article(None, "en", "guide", article_text("subtitles-audio", title="Guide"))
    spanish = client.get("/kb/").get_data(as_text=True)
    assert "Subtítulos y pistas de audio" in spanish and "Reproducción y códigos de error" not in spanish
    assert "Subtítulos y pistas de audio" in client.get("/kb/category/subtitles-audio").get_data(as_text=True)
    client.post("/language", data={"language": "en"})
    assert "Subtitles and audio tracks" in client.get("/kb/").get_data(as_text=True)
    assert "Subtitles and audio tracks" in client.get("/kb/en/guide").get_data(as_text=True)
    login_as("ticket_admin", language="en")
    client.post("/kb/categories/subtitles-audio/edit", data={"label_es": "Subtítulos", "label_en": "Captions"})
    assert "Captions" in client.get("/kb/category/subtitles-audio").get_data(as_text=True)
    search = client.get("/kb/search?q=guide&category=subtitles-audio").get_data(as_text=True)
    assert 'value="subtitles-audio" selected>Captions' in search
    assert client.get("/kb/category/cooking").status_code == 404


# Files -----------------------------------------------------------------------------------------

REPRODUCCION = """categories:
  - key: reproduccion
    es: "Reproducción"
    en: "Playback (partners' own)"
    description_es: "Lo que ven nuestros usuarios al reproducir."
"""


def test_an_import_creates_the_categories_of_its_file_first(app, tmp_path):
    write(tmp_path, CATEGORIES_FILE, REPRODUCCION)
    write(tmp_path, "es/error-de-video.md", article_file("error-de-video", "reproduccion"))
    result = run_cli(app, "kb", "import", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "Categories: 1 created, 0 updated, 0 unchanged" in result.output and "1 created" in result.output
    category = db.session.scalar(select(Category).where(Category.key == "reproduccion"))
    assert (category.label_es, category.description_es, category.position) == (
        "Reproducción",
        "Lo que ven nuestros usuarios al reproducir.",
        10,
    )
    assert db.session.scalar(select(Article.category).where(Article.slug == "error-de-video")) == "reproduccion"

    again = run_cli(app, "kb", "import", str(tmp_path))
    assert "Categories: 0 created, 0 updated, 1 unchanged" in again.output
    assert "0 created, 0 updated, 1 unchanged, 0 rejected" in again.output and "Nothing changed" in again.output

    write(tmp_path, CATEGORIES_FILE, REPRODUCCION.replace('"Reproducción"', '"Reproducción de video"'))
    third = run_cli(app, "kb", "import", str(tmp_path))
    assert "Categories: 0 created, 1 updated, 0 unchanged" in third.output
    assert db.session.get(Category, category.id).label_es == "Reproducción de video"


def test_an_article_in_an_unknown_category_refuses_the_whole_import(app, tmp_path):
    write(tmp_path, CATEGORIES_FILE, REPRODUCCION)
    write(tmp_path, "es/buena.md", article_file("buena", "reproduccion"))
    write(tmp_path, "es/otra-buena.md", article_file("otra-buena", "drm"))
    write(tmp_path, "es/mala.md", article_file("mala", "cooking"))
    result = run_cli(app, "kb", "import", str(tmp_path))
    assert result.exit_code == 1
    assert (
        f"error: es/mala.md: unknown category 'cooking': it is neither in the knowledge base nor in "
        f"{tmp_path / CATEGORIES_FILE}\n" in result.output
    )
    assert "Nothing imported" in result.output
    assert "buena" not in result.output
    assert db.session.scalar(select(func.count(Article.id))) == 0
    assert db.session.scalar(select(func.count(ArticleRevision.id))) == 0
    assert "reproduccion" not in keys_in_order()


@pytest.mark.parametrize(
    "text,reason",
    [
        ("categories:\n  - key: drm\n    es: D\n    en: D\n    color: red\n", "category 1: unknown keys: color"),
        ("categories:\n  - key: drm\n    es: D\n", "category 1: missing keys: en"),
        ("categories:\n  - key: Mal Clave\n    es: D\n    en: D\n", "category 1: key must use"),
        ("categories:\n  - key: drm\n    es: D\n    en: ''\n", "category 1 (drm): en: A name is required"),
        ("categories:\n  - key: drm\n    es: [D]\n    en: D\n", "category 1: 'es' must be a text"),
        ("categories:\n  - key: drm\n    es: D\n    en: D\n    archived: 'yes'\n", "archived must be true or false"),
        ("categories:\n  - {key: aa, es: A, en: A}\n  - {key: aa, es: B, en: B}\n", "categories listed twice: aa"),
        ("categories: drm\n", "one key, 'categories', with a list"),
        ("categories: []\nextra: 1\n", "one key, 'categories', with a list"),
        ("categories: [\n", "not valid YAML"),
    ],
)
def test_a_malformed_categories_file_refuses_the_import(app, tmp_path, text, reason):
    write(tmp_path, CATEGORIES_FILE, text)
    write(tmp_path, "es/buena.md", article_file("buena", "drm"))
    result = run_cli(app, "kb", "import", str(tmp_path))
    assert result.exit_code == 1 and f"error: {tmp_path / CATEGORIES_FILE}: " in result.output
    assert reason in result.output, result.output
    assert db.session.scalar(select(func.count(Article.id))) == 0
    assert db.session.scalar(select(Category.label_es).where(Category.key == "drm")) == "DRM y protección de contenido"


def test_a_file_orders_the_categories_it_names_in_the_places_they_hold(app, tmp_path):
    write(tmp_path, CATEGORIES_FILE, "categories:\n  - {key: marketing, es: M, en: M}\n  - {key: drm, es: D, en: D}\n")
    assert run_cli(app, "kb", "import", str(tmp_path)).exit_code == 0
    assert keys_in_order() == [
        "sso-login",
        "playback",
        "marketing",
        "subtitles-audio",
        "devices-apps",
        "catalog-metadata",
        "reports-billing",
        "drm",
        "support-process",
    ]
    assert audit_actions() == []


def test_export_then_import_restores_categories_and_articles(app, client, login_as, tmp_path):
    services.create_article(None, "es", "guia", article_text("drm"))
    login_as("ticket_admin")
    strange = {
        "key": "rara",
        "label_es": 'Comillas "dobles":\u2028sí\x85ya',
        "label_en": "yes",
        "description_en": "# no",
    }
    assert client.post("/kb/categories", data=strange).status_code == 302
    client.post("/kb/categories/rara/move", data={"direction": "up"})
    client.post("/kb/categories/marketing/archive", data={"archived": "1"})
    result = run_cli(app, "kb", "export", str(tmp_path))
    assert result.exit_code == 0 and "1 articles and 10 categories written" in result.output
    exported = read_categories(tmp_path / CATEGORIES_FILE)
    assert [entry.key for entry in exported] == keys_in_order()
    assert [entry.key for entry in exported if entry.archived] == ["marketing"]
    rara = next(entry for entry in exported if entry.key == "rara")
    assert (rara.names.label_es, rara.names.label_en, rara.names.description_en) == (
        'Comillas "dobles":\u2028sí\x85ya',
        "yes",
        "# no",
    )

    before = [(c.key, c.label_es, c.label_en, c.description_en, c.position, c.archived) for c in _all()]
    client.post("/kb/categories/rara/edit", data={"label_es": "Otra", "label_en": "Other"})
    client.post("/kb/categories/rara/move", data={"direction": "down"})
    client.post("/kb/categories/marketing/archive", data={"archived": "0"})
    again = run_cli(app, "kb", "import", str(tmp_path))
    assert again.exit_code == 0 and "Categories: 0 created, 3 updated, 7 unchanged" in again.output, again.output
    assert [(c.key, c.label_es, c.label_en, c.description_en, c.position, c.archived) for c in _all()] == before


def _all() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.position)))


def test_the_shipped_knowledge_base_imports_with_its_categories(app):
    result = run_cli(app, "kb", "import", str(ROOT / "content" / "kb"))
    assert result.exit_code == 0 and "Categories: 0 created, 0 updated, 9 unchanged" in result.output
    used = set(db.session.scalars(select(Article.category)))
    assert used and used <= set(keys_in_order())


def one_line(payload: str, canary: str, limit: int) -> str:
    return f"{payload.replace(chr(10), ' ')[: limit - len(canary) - 1]} {canary}"


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_category_names_are_shown_as_text_everywhere(client, login_as, payload):
    login_as("ticket_admin")
    names = {
        "label_es": one_line(payload, "cnryes", MAX_LABEL_LENGTH),
        "label_en": one_line(payload, "cnryen", MAX_LABEL_LENGTH),
        "description_es": one_line(payload, "cnrydes", MAX_DESCRIPTION_LENGTH),
    }
    assert client.post("/kb/categories", data={"key": "hostil", **names}).status_code == 302
    services.create_article(None, "es", "guia", article_text("hostil"))
    shows = {
        "/kb/": ["cnryes", "cnrydes"],
        "/kb/category/hostil": ["cnryes", "cnrydes"],
        "/kb/categories": ["cnryes", "cnryen"],
        "/kb/categories/hostil/edit": ["cnryes", "cnryen", "cnrydes"],
        "/kb/es/guia": ["cnryes"],
        "/kb/es/guia/edit": ["cnryes"],
        "/kb/new": ["cnryes"],
        "/kb/search?q=guia": ["cnryes"],
    }
    for url, canaries in shows.items():
        page = client.get(url).get_data(as_text=True)
        assert not markup_problems(page) and TEMPLATE_PROBE not in page, url
        assert all(canary in page for canary in canaries), url
