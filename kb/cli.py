"""`flask kb ...`: import, export, reindex and search the knowledge base from the shell."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from kb import backends, content
from kb.categories import category_labels
from kb.models import Article, ArticleStatus, Visibility
from kb.services import index_document
from portal.core.extensions import db
from portal.core.i18n import LANGUAGES, Language

kb_cli = AppGroup("kb", help="Knowledge base: import, export, reindex, search.")


@kb_cli.command("import")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
def import_command(path: Path):
    """Create or update the categories of PATH/categories.yaml, then the articles from the Markdown
    files below PATH."""
    try:
        report = content.import_folder(path)
    except content.ImportRefused as refused:
        for label, reason in refused.problems:
            click.echo(f"error: {label}: {reason}", err=True)
        click.echo("Nothing imported: fix these files and import again.", err=True)
        sys.exit(1)
    for label, reason in report.errors:
        click.echo(f"error: {label}: {reason}", err=True)
    categories = report.categories
    if categories.created or categories.updated or categories.unchanged:
        click.echo(
            f"Categories: {len(categories.created)} created, {len(categories.updated)} updated, "
            f"{len(categories.unchanged)} unchanged"
        )
    click.echo(
        f"{len(report.created)} created, {len(report.updated)} updated, {len(report.unchanged)} unchanged, "
        f"{len(report.errors)} rejected"
    )
    if not report.changed_anything and not report.errors:
        click.echo("Nothing changed: the knowledge base already matches these files.")
    if report.errors:
        sys.exit(1)


@kb_cli.command("export")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
def export_command(path: Path):
    """Write the categories to PATH/categories.yaml and the published articles to
    PATH/<language>/<slug>.md."""
    articles, categories = content.export_folder(path)
    click.echo(f"{articles} articles and {categories} categories written to {path}")


def live_documents(batch: int = 500):
    """Index documents of every live article, read in batches to keep memory flat."""
    last_id = 0
    labels = {language: category_labels(language) for language in LANGUAGES}
    while True:
        articles = list(
            db.session.scalars(
                select(Article)
                .options(joinedload(Article.published_revision))
                .where(Article.status == ArticleStatus.PUBLISHED.value, Article.id > last_id)
                .order_by(Article.id)
                .limit(batch)
            )
        )
        if not articles:
            return
        for article in articles:
            document = index_document(article, labels)
            if document is not None:
                yield document
        last_id = articles[-1].id
        db.session.expunge_all()


@kb_cli.command("reindex")
def reindex_command():
    """Rebuild the search index from the database (readers see the old index until it is done)."""
    total = db.session.scalar(select(func.count(Article.id)).where(Article.status == ArticleStatus.PUBLISHED.value))
    with click.progressbar(length=total, label="Indexing articles") as bar:
        count, place = backends.rebuild(db.session(), live_documents(), total, progress=bar.update)
    click.echo(f"{count} articles indexed in {place}")


def _result_rows(results) -> list[dict]:
    return [
        {"slug": hit.slug, "title": hit.title, "language": hit.language, "score": round(hit.score, 4)}
        for hit in results.hits
    ]


@kb_cli.command("search")
@click.argument("query")
@click.option("--lang", type=click.Choice([*LANGUAGES, "all"]), default=Language.ES.value, show_default=True)
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: a list of results, best first.")
def search_command(query: str, lang: str, limit: int, as_json: bool):
    """Search like the web search does (all visibilities). QUERY '-' reads one query per line
    from standard input and prints one JSON list per line."""
    languages = LANGUAGES if lang == "all" else (lang,)
    visibilities = tuple(v.value for v in Visibility)

    def run(text: str):
        return backends.search(text, languages, visibilities, per_page=limit, with_snippets=False)

    if query == "-":
        for line in sys.stdin:
            click.echo(json.dumps(_result_rows(run(line.strip())), ensure_ascii=False))
        return
    results = run(query)
    if as_json:
        click.echo(json.dumps(_result_rows(results), ensure_ascii=False, indent=2))
        return
    if results.suggestion:
        click.echo(f"(searched for: {results.suggestion})")
    if not results.hits:
        click.echo("No results.")
    for position, row in enumerate(_result_rows(results), start=1):
        click.echo(f"{position:>2}. [{row['language']}] {row['slug']}  {row['title']}  ({row['score']})")
