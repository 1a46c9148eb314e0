"""Knowledge-base hardening: drafts change nothing readers see until they are published; content
cannot take the page's ids or make browsers call the portal; searching is limited and logged
sparingly; the report trusts no single visitor; junk never makes a 500; imports check everything."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from kb import feedback as kb_feedback
from kb import index, search, search_log, services
from kb.content import parse
from kb.models import Article, ArticleFeedback, SearchLogEntry
from portal.core.extensions import db
from portal.core.markdown import ID_PREFIX, render_markdown
from tests.conftest import run_cli
from tests.test_kb import ROOT, edit, write


def test_a_draft_changes_nothing_readers_see_until_published(client, app, login_as, make_article):
    article = make_article(slug="interno", visibility="internal", category="drm", tags=("secreto",))
    login_as("agent_l1")
    new_metadata = {"visibility": "public", "category": "playback", "tags": "abierto"}
    assert edit(client, article, 1, "Texto interno nuevo", action="draft", note="", **new_metadata).status_code == 302

    article = db.session.get(Article, article.id)
    assert (article.visibility, article.category, article.tags) == ("internal", "drm", ["secreto"])
    anonymous = app.test_client()
    assert anonymous.get("/kb/es/interno").status_code == 404
    assert search.search("prueba", ["es"], ["public"]).found == 0
    assert "interno" not in anonymous.get("/kb/search?q=prueba&lang=es").get_data(as_text=True)
    assert anonymous.get("/kb/category/playback").get_data(as_text=True).count("/kb/es/interno") == 0

    # The editor reopens on the draft's own metadata, so nothing typed is lost.
    editor = client.get("/kb/es/interno/edit").get_data(as_text=True)
    assert 'value="abierto"' in editor and '<option selected value="public">' in editor

    assert (
        edit(
            client,
            article,
            2,
            "Texto público",
            note="se abre",
            visibility="public",
            category="playback",
            tags="abierto",
        ).status_code
        == 302
    )
    article = db.session.get(Article, article.id)
    assert (article.visibility, article.category, article.tags) == ("public", "playback", ["abierto"])
    assert anonymous.get("/kb/es/interno").status_code == 200
    assert search.search("publico", ["es"], ["public"]).found == 1


def test_restoring_an_old_revision_restores_its_metadata(client, login_as, make_article):
    article = make_article(slug="viejo", visibility="partners", category="drm", tags=("uno",))
    login_as("agent_l1")
    assert (
        edit(
            client, article, 1, "Segunda", note="abre", visibility="public", category="playback", tags="dos"
        ).status_code
        == 302
    )
    assert client.post("/kb/es/viejo/restore/1", data={"note": "vuelve"}).status_code == 302
    article = db.session.get(Article, article.id)
    assert (article.visibility, article.category, article.tags) == ("partners", "drm", ["uno"])
    assert article.published_revision.number == 3


# Item 9: content cannot reuse the page's ids --------------------------------------------------

STOLEN_IDS = [
    '<div id="queue">x</div>',
    "# queue",
    "## Pasos {#queue}",
    '<h2 id="queue">x</h2>',
    '<a id="queue" name="queue" href="#x">x</a>',
    "<span id=queue name=queue>x</span>",
    '<p><img id="queue" name="queue" alt="x"></p>',
]


class IdAudit(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.names = [], []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.append(attributes["id"])
        if "name" in attributes:
            self.names.append(attributes["name"])


def ids_and_names(html: str) -> tuple[list[str], list[str]]:
    audit = IdAudit()
    audit.feed(html)
    return audit.ids, audit.names


@pytest.mark.parametrize("markdown", STOLEN_IDS)
def test_markdown_cannot_set_ids_of_the_page(client, login_as, make_article, markdown):
    make_article(slug="ids", body=f"Texto.\n\n{markdown}\n\nFin.", visibility="public")
    login_as("agent_l1")
    preview = client.post("/kb/preview", data={"body": markdown}).get_data(as_text=True)
    ids, names = ids_and_names(preview)
    assert all(value.startswith(ID_PREFIX) for value in ids) and names == [], (ids, names)
    page = client.get("/kb/es/ids").get_data(as_text=True)
    assert 'id="queue"' not in page and 'name="queue"' not in page
    body = page.split('<div class="kb-body">', 1)[1].split("</article>", 1)[0]
    assert all(value.startswith(ID_PREFIX) for value in ids_and_names(body)[0])


def test_links_inside_a_text_follow_its_namespaced_headings(client, login_as):
    login_as("agent_l1")
    html = client.post("/kb/preview", data={"body": "## Pasos\n\n[ver pasos](#pasos)"}).get_data(as_text=True)
    assert '<h2 id="md-pasos">' in html and 'href="#md-pasos"' in html


def test_no_page_of_the_portal_uses_the_content_id_prefix():
    prefix = re.escape(ID_PREFIX)
    own_ids = re.compile(rf"""(?:\bid\s*=\s*["']?\s*|#|\bfor\s*=\s*["']?\s*|["']){prefix}""")
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "templates").rglob("*.html")
        if own_ids.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    assert len(list((ROOT / "templates").rglob("*.html"))) > 20  # the scan really saw the templates


# Item 10: images never call the portal's own routes ------------------------------------------

DROPPED_IMAGES = [
    "![x](/tickets/new)",
    "![x](tickets/1)",
    "![x](./logout)",
    "![x](//evil.example/a.png)",
    "![x](https://evil.example/a.png)",
    "![x](http://localhost/admin/users)",
    '<img src="/logout" alt="x">',
    '<img src=" /kb/manage " alt="x">',
    "![x](/attachments/../logout)",
    "![x](/attachments/%2e%2e/logout)",
    "![x](/attachments/.%2E/admin)",
    "![x](/attachments/a%2F..%2F..%2Flogout)",
    "![x](/attachments/a%5C..%5Clogout)",
    "![x](/attachments/x?next=/logout)",
    "![x](/attachments//evil.example/a.png)",
    "![x](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=)",
    "![x](data:text/html;base64,PHNjcmlwdD4=)",
    "![x](javascript:alert(1))",
]


@pytest.mark.parametrize("markdown", DROPPED_IMAGES)
def test_images_are_never_fetched_from_the_portal_or_elsewhere(client, login_as, markdown):
    login_as("agent_l1")
    html = client.post("/kb/preview", data={"body": markdown}).get_data(as_text=True)
    assert "<img" in html and "src=" not in html, html


@pytest.mark.parametrize(
    "markdown, source",
    [
        ("![diagrama](/attachments/12/diagrama-drm.png)", "/attachments/12/diagrama-drm.png"),
        ("![captura](/attachments/7/captura%20de%20pantalla.jpeg)", "/attachments/7/captura%20de%20pantalla.jpeg"),
        ("![píxel](data:image/png;base64,iVBORw0KGgo=)", "data:image/png;base64,iVBORw0KGgo="),
        ("![gif](data:image/gif;base64,R0lGODlhAQABAAAAACw=)", "data:image/gif;base64,R0lGODlhAQABAAAAACw="),
    ],
)
def test_attachment_and_inline_images_are_shown(client, login_as, markdown, source):
    login_as("agent_l1")
    html = client.post("/kb/preview", data={"body": markdown}).get_data(as_text=True)
    assert f'src="{source}"' in html


def test_links_are_not_images_and_keep_working(client, login_as):
    login_as("agent_l1")
    html = client.post("/kb/preview", data={"body": "[mis tickets](/tickets/) · [doc](https://edye.example/doc)"})
    text = html.get_data(as_text=True)
    assert 'href="/tickets/"' in text and 'href="https://edye.example/doc"' in text
    assert 'href="data:' not in client.post("/kb/preview", data={"body": "[x](data:text/html,hola)"}).get_data(
        as_text=True
    )


def test_shipped_articles_keep_their_images_and_get_namespaced_ids():
    for path in (ROOT / "content" / "kb").rglob("*.md"):
        text = path.read_text(encoding="utf-8")
        html = str(render_markdown(text))
        assert html.count("<img") == html.count("<img src=") == text.count("![") + text.count("<img"), path
        assert all(value.startswith(ID_PREFIX) for value in ids_and_names(html)[0]), path


# Item 5: search limited per client, the log at most one row per client and query per minute ---


def anonymous_search(client, query, address="203.0.113.7", agent="Mozilla/5.0 Prueba"):
    return client.get(
        "/kb/search", query_string={"q": query}, environ_base={"REMOTE_ADDR": address, "HTTP_USER_AGENT": agent}
    )


def age_search_log(minutes: int) -> None:
    for row in log_rows():
        row.created_at -= timedelta(minutes=minutes, seconds=1)
    db.session.commit()


def log_rows():
    return list(db.session.scalars(select(SearchLogEntry).order_by(SearchLogEntry.id)))


def test_search_log_keeps_one_row_per_client_and_query_per_minute(client, app, make_article):
    make_article(slug="roku", title="Instalar en Roku", visibility="public")
    for _ in range(20):
        assert anonymous_search(client, "roku").status_code == 200
    rows = log_rows()
    assert len(rows) == 1 and rows[0].user_id is None
    assert re.fullmatch(r"[0-9a-f]{64}", rows[0].client_key) and "203.0.113.7" not in rows[0].client_key

    for address in ("198.51.100.1", "198.51.100.2"):
        for _ in range(5):
            anonymous_search(client, "roku", address=address)
    assert len({row.client_key for row in log_rows()}) == 3 and len(log_rows()) == 3

    # A minute later the same client's same query is a new search.
    age_search_log(minutes=1)
    anonymous_search(client, "roku")
    assert len(log_rows()) == 4


def test_signed_in_clients_are_told_apart_by_user_not_address(client, app, login_as, make_user):
    first = login_as("partner")
    client.get("/kb/search?q=subtitulos")
    other = app.test_client()
    second = make_user("partner")
    other.post("/login", data={"email": second.email, "password": "correct horse battery"})
    other.get("/kb/search?q=subtitulos")
    other.get("/kb/search?q=subtitulos")
    rows = log_rows()
    assert [row.user_id for row in rows] == [first.id, second.id] and rows[0].client_key != rows[1].client_key


class TestSearchLimit:
    @pytest.fixture
    def app_config(self):
        return {"SEARCH_LIMIT_PER_CLIENT": "3 per minute", "TYPING_LIMIT_PER_USER": "2 per minute"}

    def test_search_is_limited_per_client(self, client, app, login_as):
        for _ in range(3):
            assert anonymous_search(client, "roku").status_code == 200
        refused = anonymous_search(client, "roku otra")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        htmx = client.get(
            "/kb/search?q=roku", headers={"HX-Request": "true"}, environ_base={"REMOTE_ADDR": "203.0.113.7"}
        )
        assert htmx.status_code == 429
        assert len(log_rows()) == 1  # refused searches are not logged
        assert anonymous_search(client, "roku", address="198.51.100.9").status_code == 200
        login_as("partner")
        assert client.get("/kb/search?q=roku").status_code == 200  # a signed-in user has their own count

    def test_live_preview_is_limited_per_user(self, client, login_as):
        login_as("agent_l1")
        assert [client.post("/kb/preview", data={"body": "x"}).status_code for _ in range(3)] == [200, 200, 429]


# Item 11: the search report ---------------------------------------------------------------------


def test_report_shows_anonymous_queries_only_once_enough_clients_asked(client, app, login_as, make_user):
    visitor = app.test_client()
    for _ in range(3):  # one visitor alone cannot put a query in the report, however often they ask
        anonymous_search(visitor, "precio secreto", address="192.0.2.1")
        age_search_log(minutes=2)
    assert len(log_rows()) == 3
    for address in ("192.0.2.10", "192.0.2.11"):
        anonymous_search(visitor, "roku lento", address=address)
    partner = app.test_client()
    user = make_user("partner")
    partner.post("/login", data={"email": user.email, "password": "correct horse battery"})
    partner.get("/kb/search", query_string={"q": '<b>negrita</b> "x" & <script>y</script>'})

    login_as("agent_l2")
    report = client.get("/kb/reports/searches").get_data(as_text=True)
    assert "precio secreto" not in report and "roku lento" not in report
    assert "&lt;b&gt;negrita&lt;/b&gt;" in report and "<b>negrita" not in report and "<script>y" not in report
    assert "/kb/search?" not in report.split("<h1>", 1)[1]  # queries are text, never links

    anonymous_search(visitor, "roku lento", address="192.0.2.12")
    report = client.get("/kb/reports/searches").get_data(as_text=True)
    assert "roku lento" in report and "precio secreto" not in report


# Item 4: links carry only their own parameters; junk never makes a 500 ------------------------

FORGED = {"_method": "POST", "_external": "1", "_scheme": "javascript", "_anchor": 'x"><b>'}


def hrefs(html: str) -> list[str]:
    return re.findall(r'(?:href|hx-get)="([^"]*)"', html)


def test_search_pagination_passes_only_its_own_parameters(client, make_article):
    for number in range(13):
        make_article(slug=f"roku-{number}", title=f"Roku paso {number}", visibility="public")
    response = client.get(
        "/kb/search", query_string={"q": "roku", "page": "2", "lang": "es", **FORGED}, headers={"Host": "evil.example"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'rel="prev"' in html
    links = [link for link in hrefs(html) if "/kb/search?" in link]
    assert links and all(link.startswith("/kb/search?") and "_" not in link and "#" not in link for link in links)
    assert "evil.example" not in html and "javascript:" not in html
    assert 'href="/kb/search?q=roku&amp;lang=es&amp;page=1"' in html


def test_manage_pagination_passes_only_its_own_parameters(client, login_as):
    db.session.add_all(Article(slug=f"borrador-{n:02d}", language="es", category="drm", tags=[]) for n in range(55))
    db.session.commit()
    login_as("agent_l1")
    response = client.get("/kb/manage", query_string={"q": "borrador", "status": "draft", **FORGED})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'rel="next"' in html
    links = [link for link in hrefs(html) if "/kb/manage?" in link]
    assert links and all(link.startswith("/kb/manage?") and "_" not in link and "#" not in link for link in links)
    assert 'href="/kb/manage?q=borrador&amp;status=draft&amp;page=2"' in html


JUNK = ["99999999999999999999", "-1", "0", "abc", "1\x00", "\x00", "1e309", "١٢", "9" * 5000, "%", "2147483648"]


@pytest.mark.parametrize("junk", JUNK)
def test_staff_pages_answer_junk_without_500(client, login_as, make_article, junk):
    # A NUL byte may be refused (400) before the page runs; the page itself must not need that.
    ok = (200, 400) if "\x00" in junk else (200,)
    missing = (404, 400) if "\x00" in junk else (404,)
    make_article(slug="guia", body="uno\ndos\n")
    login_as("agent_l1")
    assert client.get("/kb/es/guia/diff", query_string={"from": junk, "to": "1"}).status_code in missing
    assert client.get("/kb/es/guia/diff", query_string={"from": "1", "to": junk}).status_code in missing
    for url, args in [
        ("/kb/manage", {"q": junk, "status": junk, "language": junk, "page": junk}),
        ("/kb/reports/searches", {"days": junk}),
        ("/kb/search", {"q": junk, "lang": junk, "category": junk, "page": junk}),
        ("/kb/", {"page": junk}),
        ("/kb/es/guia/history", {}),
    ]:
        assert client.get(url, query_string=args).status_code in ok, url
    assert client.get(f"/kb/es/{junk}").status_code in (400, 404)
    assert client.get(f"/kb/es/{junk}/edit").status_code in (400, 404)


@pytest.mark.parametrize("junk", ["nul\x00byte", "x" * 1001, "\u202e\u200b", "99999999999999999999"])
def test_feedback_answers_junk_without_500(client, login_as, make_article, junk):
    make_article()
    user = login_as("partner")
    assert client.post("/kb/es/guia/feedback", data={"helpful": junk}).status_code in (400, 422)
    response = client.post("/kb/es/guia/feedback", data={"helpful": "no", "comment": junk})
    assert response.status_code in (302, 400, 422)
    stored = db.session.scalar(select(ArticleFeedback).where(ArticleFeedback.user_id == user.id))
    if response.status_code == 302:
        assert "\x00" not in stored.comment
    else:
        assert stored is None


def test_search_stores_only_clean_queries_and_known_languages(client):
    response = client.get("/kb/search", query_string={"q": "ro\u200bku \u202elento\x1b", "lang": "klingon-x"})
    assert response.status_code == 200
    row = log_rows()[0]
    assert row.query == "roku lento" and row.language == "es"


def test_services_clean_nul_bytes_themselves(app, make_article, make_user):
    """PostgreSQL refuses NUL in text: the KB services clean it whatever the web layer does."""
    article = make_article(slug="guia")
    user = make_user("partner")
    assert kb_feedback.record_feedback(user, article, False, "fal\x00ta").comment == "falta"
    with app.test_request_context("/kb/search"):
        search_log.log_search("ro\x00ku", "es", 0, None, "anonymous:192.0.2.1 prueba")
    assert log_rows()[0].query == "roku"
    assert db.session.scalars(services.staff_article_list(query="gu\x00_a")).all() == []
    assert [a.slug for a in db.session.scalars(services.staff_article_list(query="gu\x00ia"))] == ["guia"]
    assert not services.is_slug("gu\x00ia") and not services.is_slug("guia\n") and not services.is_slug("a" * 201)


# Item 14: texts are cleaned before they are checked --------------------------------------------


def new_article(client, **fields):
    data = {
        "language": "es",
        "slug": "nuevo",
        "title": "Título",
        "body": "Texto.",
        "category": "drm",
        "visibility": "public",
        "tags": "",
        "note": "primera",
        "action": "publish",
        **fields,
    }
    return client.post("/kb/new", data=data)


@pytest.mark.parametrize("title", ["   ", "\u200b\u200c\u200d", " \u2060\ufeff \u202e ", "\x01\x1b\x7f"])
def test_a_blank_or_invisible_title_is_refused(client, login_as, title):
    login_as("agent_l1")
    response = new_article(client, title=title)
    assert response.status_code == 422 and "El título es obligatorio." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Article.id))) == 0


def test_titles_tags_notes_and_bodies_are_stored_clean(client, login_as, make_article):
    login_as("agent_l1")
    response = new_article(
        client,
        title="  \u202eGuía\u200b de\x1b prueba  ",
        slug=" nuevo\u200b ",
        tags="\u200broku, roku\u2060 , \u202e",
        note="  \u200b  ",
        action="draft",
        body="\x01Texto\x1b con control.\r\n",
    )
    assert response.status_code == 302
    article = db.session.scalar(select(Article).where(Article.slug == "nuevo"))
    draft = article.revisions[0]
    assert (draft.title, draft.tags, draft.note, draft.body) == ("Guía de prueba", ["roku"], "", "Texto con control.\n")
    # Publishing needs a note that says something.
    edited = edit(client, article, 1, "Texto.", title="Guía", note="\u200b \u200b")
    assert edited.status_code == 422 and "Indica qué cambió" in edited.get_data(as_text=True)
    long_title = edit(client, article, 1, "Texto.", title=" " * 50 + "t" * 300 + "\u200b" * 50, note="ok")
    assert long_title.status_code == 302 and article.revisions[-1].title == "t" * 300


# Item 16: import checks every field first, stays in its folder, round-trips titles --------------


def front_matter(**fields) -> str:
    values = {
        "title": '"Guía"',
        "slug": "guia",
        "language": "es",
        "category": "drm",
        "visibility": "public",
        "tags": "[drm]",
        **fields,
    }
    lines = [f"{key}: {value}" for key, value in values.items() if value is not None]
    return "---\n" + "\n".join(lines) + "\n---\n\nTexto del artículo.\n"


BAD_FILES = {
    "long-title": (front_matter(slug="a1", title='"' + "t" * 301 + '"'), "at most 300 characters"),
    "blank-title": (front_matter(slug="a2", title='"\\u200b \\u2060 "'), "title is required"),
    "list-title": (front_matter(slug="a3", title="[uno, dos]"), "'title' must be a non-empty text"),
    "long-slug": (front_matter(slug="s" * 201), "slug must use"),
    "slug-newline": (front_matter(slug='"slug-con-salto\\n"'), "slug must use"),
    "number-slug": (front_matter(slug="12"), "'slug' must be a non-empty text"),
    "many-tags": (front_matter(slug="a4", tags="[" + ", ".join(f"t{n}" for n in range(13)) + "]"), "at most 12 tags"),
    "long-tag": (front_matter(slug="a5", tags="[" + "t" * 41 + "]"), "at most 40 characters"),
    "yes-tag": (front_matter(slug="a6", tags="[yes]"), "tags must be a list of words"),
    "null-tag": (front_matter(slug="a7", tags="[null]"), "tags must be a list of words"),
    "nested-tags": (front_matter(slug="a8", tags="[[a]]"), "tags must be a list of words"),
    "category-list": (front_matter(slug="a9", category="[drm]"), "'category' must be a non-empty text"),
    "language": (front_matter(slug="a10", language="fr"), "language must be"),
    "visibility": (front_matter(slug="a11", visibility="7"), "'visibility' must be a non-empty text"),
    "translation": (front_matter(slug="a12", translation_of='"Otra Guía"'), "translation_of must be"),
    "long-translation": (front_matter(slug="a13", translation_of="t" * 201), "translation_of must be"),
    "long-body": (front_matter(slug="a14") + "x" * 200_001, "body: The text is at most 200000"),
    "huge-file": (front_matter(slug="a15") + "x" * 1_000_001, "larger than 1 MB"),
}


def test_import_checks_every_field_before_storing_anything(app, tmp_path):
    write(tmp_path, "es/buena.md", front_matter(slug="buena", title='"  \\u202eBuena\\u200b guía\\x01 "'))
    for name, (text, _reason) in BAD_FILES.items():
        write(tmp_path, f"es/{name}.md", text)
    result = run_cli(app, "kb", "import", str(tmp_path))
    assert result.exit_code == 1 and "1 created" in result.output and f"{len(BAD_FILES)} rejected" in result.output
    for name, (_text, reason) in BAD_FILES.items():
        assert re.search(rf"error: es/{re.escape(name)}\.md: .*{re.escape(reason)}", result.output), (
            name,
            result.output,
        )
    assert db.session.scalars(select(Article.slug)).all() == ["buena"]
    assert db.session.scalar(select(Article)).published_revision.title == "Buena guía"


def test_import_does_not_follow_links_out_of_its_folder(app, tmp_path):
    folder, outside = tmp_path / "import", tmp_path / "outside"
    write(folder, "es/propia.md", front_matter(slug="propia"))
    write(outside, "secreto.md", front_matter(slug="secreto"))
    write(outside, "carpeta/otro.md", front_matter(slug="otro"))
    (folder / "es" / "enlace.md").symlink_to(outside / "secreto.md")
    (folder / "es" / "carpeta").symlink_to(outside / "carpeta", target_is_directory=True)
    (folder / "es" / "roto.md").symlink_to(tmp_path / "no-existe.md")
    (folder / "es" / "copia.md").symlink_to(folder / "es" / "propia.md")  # inside: read, then refused as a twin
    result = run_cli(app, "kb", "import", str(folder))
    assert "error: es/enlace.md: symbolic link to a file outside the import folder" in result.output
    assert "error: es/carpeta: symbolic link to a folder outside the import folder" in result.output
    assert "error: es/roto.md: symbolic link to a file outside the import folder" in result.output
    assert "same language and slug" in result.output
    assert db.session.scalars(select(Article.slug)).all() == ["propia"]


ROUND_TRIP_TITLES = [
    "Comillas \"dobles\" y 'simples'",
    "Error: código 4031",
    "# no es un comentario",
    "- empieza con guion",
    "--- tres guiones",
    "? pregunta : clave",
    "yes",
    "no",
    "null",
    "~",
    "true",
    "Off",
    "123",
    "1e3",
    "0x1F",
    ".inf",
    "&ancla *alias !etiqueta %directiva @arroba `tilde`",
    "{llaves} [corchetes], comas",
    "Barra \\ invertida \\n literal",
    "Guía de subtítulos — ñandú, 日本語, عربى, 😀",
    "tab\tdentro",
    "separador\u2028de línea y\u2029párrafo",
    "NEL\x85 y C1\x9b",
    "a" * 300,
    "ñ" * 299 + "😀",
]


@pytest.mark.parametrize("title", ROUND_TRIP_TITLES)
def test_export_then_import_round_trips_any_accepted_title(app, tmp_path, title):
    text = services.ArticleText(title, "Texto.", "drm", ["yes", "null", "1"], "public", note="n", publish=True)
    services.create_article(None, "es", "titulo", text)
    assert run_cli(app, "kb", "export", str(tmp_path)).exit_code == 0
    exported = parse(tmp_path / "es" / "titulo.md")
    assert exported.title == title and exported.tags == ("yes", "null", "1")
    result = run_cli(app, "kb", "import", str(tmp_path))
    assert result.exit_code == 0 and "0 created, 0 updated, 1 unchanged" in result.output, result.output


def test_a_failed_index_commit_releases_the_lock_and_keeps_the_saved_article(app, make_article, monkeypatch, caplog):
    from whoosh.writing import SegmentWriter

    def broken_commit(self, *args, **kwargs):
        raise OSError("disk full")

    article = make_article(slug="primero")
    with monkeypatch.context() as patched:
        patched.setattr(SegmentWriter, "commit", broken_commit)
        second = make_article(slug="segundo", body="Texto nuevo sobre subtítulos.")
    assert db.session.get(Article, second.id).is_live
    assert "run `flask kb reindex`" in caplog.text
    # The write lock was released: the next write goes through at once instead of waiting for it.
    writer = index.open_index().writer(timeout=0.5)
    writer.cancel()
    assert article.is_live
