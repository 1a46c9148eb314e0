"""Knowledge base: revisions, editing, concurrency, history, visibility, feedback, files (search: test_kb_search)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kb import search
from kb.content import MalformedFile, import_folder, parse
from kb.models import Article, ArticleFeedback, ArticleRevision, RevisionIsImmutable
from portal.core.extensions import db
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent


def revision_count(article) -> int:
    return db.session.scalar(select(func.count(ArticleRevision.id)).where(ArticleRevision.article_id == article.id))


def edit(client, article, base, body, title="Guía de prueba", action="publish", note="cambio", **extra):
    data = {
        "title": title,
        "body": body,
        "category": article.category,
        "tags": "prueba",
        "visibility": article.visibility,
        "note": note,
        "base_revision": str(base),
        "action": action,
        **extra,
    }
    return client.post(f"/kb/{article.language}/{article.slug}/edit", data=data)


def test_revisions_are_immutable(make_article):
    article = make_article()
    first = article.published_revision
    first.body = "rewritten history"
    with pytest.raises(RevisionIsImmutable):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(ArticleRevision, first.id).body == "Texto de **prueba**.\n"


def test_every_save_is_a_new_revision_and_drafts_stay_hidden(client, login_as, make_user, make_article, app):
    article = make_article()
    login_as("agent_l1")
    assert edit(client, article, 1, "Borrador nuevo", action="draft", note="").status_code == 302
    assert revision_count(article) == 2
    assert article.published_revision.number == 1 and article.has_newer_draft

    partner_client = app.test_client()
    partner = make_user("partner")
    partner_client.post("/login", data={"email": partner.email, "password": "correct horse battery"})
    page = partner_client.get("/kb/es/guia").get_data(as_text=True)
    assert "Texto de <strong>prueba</strong>" in page and "Borrador nuevo" not in page

    staff_page = client.get("/kb/es/guia").get_data(as_text=True)
    assert "Hay un borrador más reciente" in staff_page or "newer draft" in staff_page

    assert edit(client, article, 2, "Publicado ahora", note="").status_code == 422
    assert edit(client, article, 2, "Publicado ahora", note="lista final").status_code == 302
    assert revision_count(article) == 3 and article.published_revision.number == 3
    assert "Publicado ahora" in partner_client.get("/kb/es/guia").get_data(as_text=True)


def test_concurrent_edit_is_refused_with_diff_and_nothing_is_lost(client, app, login_as, make_user, make_article):
    article = make_article(body="línea uno\nlínea dos\n")
    login_as("agent_l1")
    other = app.test_client()
    other_agent = make_user("agent_l2", name="Otra Agente")
    other.post("/login", data={"email": other_agent.email, "password": "correct horse battery"})

    assert edit(other, article, 1, "línea uno\nlínea dos cambiada por otra\n", note="ella primero").status_code == 302
    mine = "línea uno\nmi texto cuidadosamente escrito\n"
    response = edit(client, article, 1, mine, note="yo después")
    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Otra Agente" in body
    assert re.search(r"<textarea[^>]*>\s*línea uno\nmi texto cuidadosamente escrito\s*</textarea>", body)
    assert "línea dos cambiada por otra" in body and 'class="diff-removed"' in body
    assert revision_count(article) == 2
    assert article.published_revision.body.startswith("línea uno\nlínea dos cambiada")
    # The form now carries the newest revision number, so saving again on purpose works.
    assert 'name="base_revision" type="hidden" value="2"' in body
    assert edit(client, article, 2, mine, note="fusionado").status_code == 302
    assert revision_count(article) == 3


def test_history_diff_and_restore(client, login_as, make_article):
    article = make_article(body="uno\ndos\ntres\n")
    login_as("ticket_admin")
    edit(client, article, 1, "uno\nDOS\ntres\ncuatro\n", title="Guía renombrada")
    history = client.get("/kb/es/guia/history").get_data(as_text=True)
    assert "primera versión" in history and "cambio" in history

    diff = client.get("/kb/es/guia/diff?from=1&to=2", headers={"HX-Request": "true"})
    text = diff.get_data(as_text=True)
    assert diff.status_code == 200 and "<html" not in text
    assert "<del>Guía de prueba</del>" in text and "<ins>Guía renombrada</ins>" in text
    assert re.search(r'class="diff-removed".*?dos', text, re.S) and re.search(r'class="diff-added".*?DOS', text, re.S)
    assert client.get("/kb/es/guia/diff?from=1&to=99").status_code == 404

    assert client.post("/kb/es/guia/restore/1").status_code == 302
    assert revision_count(article) == 3
    restored = article.published_revision
    assert restored.number == 3 and restored.body == "uno\ndos\ntres\n" and restored.title == "Guía de prueba"
    assert "Restaurada la revisión 1" in restored.note or "Restored revision 1" in restored.note
    assert client.post("/kb/es/guia/restore/42").status_code == 404


def test_new_article_with_translation(client, login_as, make_article):
    spanish = make_article(slug="guia-es", title="Guía")
    login_as("agent_l1")
    response = client.post(
        "/kb/new",
        data={
            "language": "en",
            "slug": "guide-en",
            "translation_id": str(spanish.id),
            "title": "Guide",
            "body": "English **text**.",
            "category": "playback",
            "visibility": "public",
            "tags": "a, b, a",
            "note": "first",
            "action": "publish",
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/kb/en/guide-en"
    english = db.session.scalar(select(Article).where(Article.slug == "guide-en"))
    assert english.tags == ["a", "b"] and english.translation is spanish and spanish.translation is english
    assert 'href="/kb/en/guide-en"' in client.get("/kb/es/guia-es").get_data(as_text=True)
    duplicate = client.post(
        "/kb/new",
        data={
            "language": "en",
            "slug": "guide-en",
            "title": "Again",
            "body": "x",
            "category": "playback",
            "visibility": "public",
            "action": "draft",
        },
    )
    assert duplicate.status_code == 422 and "Otro artículo" in duplicate.get_data(as_text=True)
    bad_slug = client.post(
        "/kb/new",
        data={
            "language": "en",
            "slug": "Not A Slug!",
            "title": "x",
            "body": "x",
            "category": "playback",
            "visibility": "public",
            "action": "draft",
        },
    )
    assert bad_slug.status_code == 422


def test_preview_renders_tables_code_and_anchors(client, login_as):
    login_as("vp")
    response = client.post(
        "/kb/preview", data={"body": "## Pasos\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\ncurl x\n```\n"}
    )
    text = response.get_data(as_text=True)
    # Heading anchors are namespaced (md-) so content never reuses an id of the page.
    assert '<h2 id="md-pasos">Pasos</h2>' in text and "<table>" in text and "<code>curl x" in text


XSS_PAYLOADS = [
    "<script>alert('xss')</script>",
    "<img src=x onerror=alert('xss')>",
    "[click](javascript:alert('xss'))",
    "<a href=\"javascript:alert('xss')\">x</a>",
    "<div style=\"background:url(javascript:alert('xss'))\">styled</div>",
    "<svg onload=alert('xss')>",
    '<iframe src="https://evil.example"></iframe>',
    "<p onmouseover=\"alert('xss')\">hover</p>",
    "<a href=\"JaVaScRiPt:alert('xss')\">mixed case</a>",
    "<a href=\"jav&#x09;ascript:alert('xss')\">encoded tab</a>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('xss')>",
    "\"><script>alert('xss')</script>",
]


class MarkupAudit(HTMLParser):
    """Collects the tags and attributes that would actually run in a browser."""

    DANGEROUS_TAGS = frozenset({"iframe", "svg", "math", "object", "embed", "style", "base", "form"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts += 1
        if tag in self.DANGEROUS_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.problems.append(f"{tag} {name}=")
            squeezed = "".join((value or "").split()).lower()
            if name in ("href", "src", "action", "formaction") and squeezed.startswith(("javascript:", "data:text")):
                self.problems.append(f"{tag} {name}={value}")


def assert_clean(html: str):
    audit = MarkupAudit()
    audit.feed(html.split("<body", 1)[-1])
    # The layout itself loads no inline script; the only <form> tags are the page's own.
    audit.problems = [problem for problem in audit.problems if problem != "<form>"]
    assert audit.scripts == 0 and not audit.problems, f"unsafe markup survived: {audit.problems}"


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_sanitization_everywhere(client, login_as, make_article, payload):
    article = make_article(slug="xss", title="Widevine xss", body=f"Widevine paso uno.\n\n{payload}\n\nWidevine fin.")
    login_as("ticket_admin")
    assert_clean(client.get("/kb/es/xss").get_data(as_text=True))
    assert_clean(client.post("/kb/preview", data={"body": payload}).get_data(as_text=True))
    edit(client, article, 1, f"Otra versión {payload}", title="Widevine xss")
    assert_clean(client.get("/kb/es/xss/diff?from=1&to=2").get_data(as_text=True))
    assert_clean(client.get("/kb/search", query_string={"q": "widevine"}).get_data(as_text=True))
    echoed = client.get("/kb/search", query_string={"q": payload}).get_data(as_text=True)
    assert_clean(echoed)
    assert_clean(client.get("/kb/es/xss/history").get_data(as_text=True))


def test_feedback_one_vote_per_user_changeable(client, login_as, make_article, app, make_user):
    article = make_article()
    assert client.post("/kb/es/guia/feedback", data={"helpful": "yes"}).status_code == 302
    user = login_as("partner")
    response = client.post("/kb/es/guia/feedback", data={"helpful": "yes"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Gracias" in response.get_data(as_text=True)
    client.post("/kb/es/guia/feedback", data={"helpful": "no", "comment": "Faltan capturas"})
    votes = list(db.session.scalars(select(ArticleFeedback).where(ArticleFeedback.article_id == article.id)))
    assert len(votes) == 1 and votes[0].helpful is False and votes[0].user_id == user.id
    assert client.post("/kb/es/guia/feedback", data={"helpful": "maybe"}).status_code == 422
    other_partner = app.test_client()
    other_user = make_user("partner")
    other_partner.post("/login", data={"email": other_user.email, "password": "correct horse battery"})
    assert "Faltan capturas" not in other_partner.get("/kb/es/guia").get_data(as_text=True)
    staff = app.test_client()
    agent = make_user("agent_l1")
    staff.post("/login", data={"email": agent.email, "password": "correct horse battery"})
    staff_page = staff.get("/kb/es/guia").get_data(as_text=True)
    assert "Faltan capturas" in staff_page and re.search(
        r"[Úú]til: 0 · No útil: 1|Helpful: 0 · Not helpful: 1", staff_page
    )


# Files -------------------------------------------------------------------------------

VALID = """---
title: "Guía de Roku"
slug: guia-roku
language: es
category: devices-apps
visibility: public
tags: [roku, app]
---

## Instalar

Busca EDYE en la tienda de Roku.
"""


def write(folder: Path, relative: str, text: str) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_import_is_idempotent_and_only_versions_real_changes(app, tmp_path):
    write(tmp_path, "es/guia-roku.md", VALID)
    first = run_cli(app, "kb", "import", str(tmp_path))
    assert first.exit_code == 0 and "1 created, 0 updated, 0 unchanged" in first.output
    second = run_cli(app, "kb", "import", str(tmp_path))
    assert "0 created, 0 updated, 1 unchanged" in second.output and "Nothing changed" in second.output
    article = db.session.scalar(select(Article).where(Article.slug == "guia-roku"))
    assert revision_count(article) == 1

    write(tmp_path, "es/guia-roku.md", VALID.replace("visibility: public", "visibility: partners"))
    third = run_cli(app, "kb", "import", str(tmp_path))
    # Visibility, category and tags are versioned with the text, so a metadata change is a revision.
    assert "1 updated" in third.output and revision_count(article) == 2 and article.visibility == "partners"
    assert article.published_revision.visibility == "partners"
    write(tmp_path, "es/guia-roku.md", VALID.replace("Busca EDYE", "Encuentra EDYE"))
    run_cli(app, "kb", "import", str(tmp_path))
    assert revision_count(article) == 3 and "Encuentra EDYE" in article.published_revision.body
    assert search.search("encuentra", ["es"], ["public"]).found == 1


def broken(slug: str, old: str, new: str) -> str:
    """VALID with `old` replaced by `new`, under its own slug."""
    return VALID.replace(old, new).replace("guia-roku", slug)


MALFORMED = {
    "no-front-matter.md": ("Solo texto.\n", "missing front matter"),
    "unclosed.md": ("---\ntitle: x\n", "not closed"),
    "bad-yaml.md": ("---\ntitle: [unclosed\n---\n\nTexto\n", "not valid YAML"),
    "missing-key.md": (broken("missing-key", "category: devices-apps\n", ""), "missing keys: category"),
    "extra-key.md": (broken("extra-key", "tags:", "author: yo\ntags:"), "unknown keys: author"),
    "bad-language.md": (broken("bad-language", "language: es", "language: fr"), "language must be"),
    "bad-visibility.md": (broken("bad-visibility", "visibility: public", "visibility: secret"), "visibility must be"),
    "Bad Slug.md": (VALID.replace("slug: guia-roku", "slug: Bad Slug"), "slug must use"),
    "empty-body.md": (VALID.split("## Instalar")[0].replace("guia-roku", "empty-body"), "no text"),
    "tags-not-list.md": (broken("tags-not-list", "tags: [roku, app]", "tags: roku"), "tags must be a list"),
}


def test_malformed_files_are_reported_and_the_rest_imported(app, tmp_path):
    write(tmp_path, "es/guia-roku.md", VALID)
    for name, (text, _reason) in MALFORMED.items():
        write(tmp_path, f"es/{name}", text)
    (tmp_path / "es" / "latin1.md").write_bytes("---\ntitle: \xe1\n".encode("latin-1"))
    result = run_cli(app, "kb", "import", str(tmp_path))
    assert result.exit_code == 1
    assert "1 created" in result.output
    for name, (_text, reason) in MALFORMED.items():
        assert re.search(rf"error: es/{re.escape(name)}: .*{re.escape(reason)}", result.output), (name, result.output)
    assert "es/latin1.md: not UTF-8" in result.output
    assert db.session.scalar(select(func.count(Article.id))) == 1


def test_export_round_trip_is_lossless(app, tmp_path):
    report = import_folder(ROOT / "content" / "kb")
    assert not report.errors and len(report.created) >= 24
    first, second = tmp_path / "first", tmp_path / "second"
    assert run_cli(app, "kb", "export", str(first)).exit_code == 0
    again = import_folder(first)
    assert again.created == [] and again.updated == [] and len(again.unchanged) == len(report.created)
    run_cli(app, "kb", "export", str(second))
    first_files = sorted(p.relative_to(first) for p in first.rglob("*.md"))
    assert first_files == sorted(p.relative_to(second) for p in second.rglob("*.md"))
    for relative in first_files:
        assert (first / relative).read_text() == (second / relative).read_text()
    for path in (ROOT / "content" / "kb").rglob("*.md"):
        original, exported = parse(path), parse(first / path.relative_to(ROOT / "content" / "kb"))
        assert (original.title, original.body, original.tags, original.category, original.visibility) == (
            exported.title,
            exported.body,
            exported.tags,
            exported.category,
            exported.visibility,
        )
        assert original.translation_of == exported.translation_of


def test_parse_rejects_duplicate_slug_in_one_import(app, tmp_path):
    write(tmp_path, "es/a.md", VALID)
    write(tmp_path, "es/b.md", VALID)
    report = import_folder(tmp_path)
    assert len(report.created) == 1 and report.errors and "same language and slug" in report.errors[0][1]
    with pytest.raises(MalformedFile):
        parse(write(tmp_path, "x.md", "---\n- a list\n---\n\nx\n"))
