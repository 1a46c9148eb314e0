"""The knowledge base as files, imported and exported: `content/kb/<language>/<slug>.md` with YAML
front matter, and beside them `categories.yaml`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from kb import backends
from kb.categories import EntryChanges, all_categories, apply_entries, is_key
from kb.category_file import CATEGORIES_FILE, categories_document, folder_categories
from kb.file_format import ImportRefused, MalformedFile, read_text, yaml_text
from kb.models import Article, ArticleStatus, Category, Visibility
from kb.services import (
    MAX_SLUG_LENGTH,
    Metadata,
    add_revision,
    check_body,
    check_title,
    clean_tags,
    index_document,
    is_slug,
    link_translation,
)
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.i18n import LANGUAGES

REQUIRED_KEYS = ("title", "slug", "language", "category", "visibility", "tags")
OPTIONAL_KEYS = ("translation_of",)
IMPORT_NOTE = "Imported from {path}"


@dataclass(frozen=True)
class ArticleFile:
    path: Path
    title: str
    slug: str
    language: str
    category: str
    visibility: str
    tags: tuple[str, ...]
    translation_of: str | None
    body: str


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    categories: EntryChanges = field(default_factory=EntryChanges)

    @property
    def changed_anything(self) -> bool:
        return bool(self.created or self.updated or self.categories.created or self.categories.updated)


def _front_matter_and_body(text: str) -> tuple[dict, str]:
    if not text.startswith("---\n"):
        raise MalformedFile("missing front matter (the file must start with a line '---')")
    end = text.find("\n---\n", 3)
    if end == -1:
        raise MalformedFile("front matter is not closed by a line '---'")
    try:
        meta = yaml.safe_load(text[4 : end + 1])
    except yaml.YAMLError as error:
        raise MalformedFile(f"front matter is not valid YAML: {error}".splitlines()[0]) from None
    if not isinstance(meta, dict):
        raise MalformedFile("front matter must be a mapping of keys to values")
    missing = [key for key in REQUIRED_KEYS if key not in meta]
    unknown = [key for key in meta if key not in REQUIRED_KEYS + OPTIONAL_KEYS]
    if missing:
        raise MalformedFile(f"missing keys: {', '.join(missing)}")
    if unknown:
        raise MalformedFile(f"unknown keys: {', '.join(map(str, unknown))}")
    return meta, text[end + 5 :]


def _check_shape(meta: dict) -> None:
    """Every field's type and vocabulary; lengths and cleaning are the services' checks."""
    for key in ("title", "slug", "language", "category", "visibility"):
        if not isinstance(meta[key], str) or not meta[key].strip():
            raise MalformedFile(f"'{key}' must be a non-empty text")
    if meta["language"] not in LANGUAGES:
        raise MalformedFile(f"language must be one of {', '.join(LANGUAGES)}")
    if not is_slug(meta["slug"]):
        raise MalformedFile(f"slug must use lowercase letters, digits and hyphens only (at most {MAX_SLUG_LENGTH})")
    if not is_key(meta["category"]):
        raise MalformedFile("category must be a category's key: 2 to 40 lowercase letters, digits and hyphens")
    if meta["visibility"] not in {v.value for v in Visibility}:
        raise MalformedFile("visibility must be public, partners or internal")
    tags = meta["tags"]
    # YAML reads `yes` or `null` unquoted as a boolean or nothing: not what a tag means.
    if not isinstance(tags, list) or not all(isinstance(tag, (str, int)) and not isinstance(tag, bool) for tag in tags):
        raise MalformedFile("tags must be a list of words, e.g. [roku, app]")
    translation_of = meta.get("translation_of")
    if translation_of is not None and not (isinstance(translation_of, str) and is_slug(translation_of)):
        raise MalformedFile("translation_of must be the slug of an article in the other language")


def parse(path: Path) -> ArticleFile:
    """Read and check one article file (every field, before anything is stored); MalformedFile
    says what is wrong with it."""
    meta, body = _front_matter_and_body(read_text(path))
    _check_shape(meta)
    if not body.strip():
        raise MalformedFile("the article has no text after the front matter")
    # The services' own checks, with their messages in English for the command line.
    with force_locale("en"):
        try:
            title, body = check_title(meta["title"]), check_body(body)
            tags = tuple(clean_tags([str(tag) for tag in meta["tags"]]))
        except InvalidInput as error:
            raise MalformedFile(f"{error.field}: {error.message}") from None
    return ArticleFile(
        path=path,
        title=title,
        slug=meta["slug"],
        language=meta["language"],
        category=meta["category"],
        visibility=meta["visibility"],
        tags=tags,
        translation_of=meta.get("translation_of"),
        body=body,
    )


def _apply(article_file: ArticleFile, report: ImportReport, label: str) -> Article:
    article = db.session.scalar(
        select(Article)
        .options(joinedload(Article.published_revision))
        .where(Article.language == article_file.language, Article.slug == article_file.slug)
    )
    note = IMPORT_NOTE.format(path=label)
    metadata = Metadata(article_file.category, list(article_file.tags), article_file.visibility)
    if article is None:
        article = Article(
            slug=article_file.slug,
            language=article_file.language,
            category=article_file.category,
            tags=list(article_file.tags),
            visibility=article_file.visibility,
        )
        db.session.add(article)
        db.session.flush()
        add_revision(None, article, article_file.title, article_file.body, note, True, metadata)
        report.created.append(label)
        return article
    published = article.published_revision
    text_changed = published is None or (published.title, published.body) != (article_file.title, article_file.body)
    metadata_changed = (article.category, list(article.tags or []), article.visibility) != (
        metadata.category,
        metadata.tags,
        metadata.visibility,
    )
    if text_changed or metadata_changed:
        add_revision(None, article, article_file.title, article_file.body, note, True, metadata)
        report.updated.append(label)
    else:
        report.unchanged.append(label)
    return article


def _article_paths(root: Path, report: ImportReport) -> list[Path]:
    """Every `*.md` file below `root`, without leaving it: symbolic links are followed only when
    they point inside `root` (files), and folders reached through a link are never entered; a
    link pointing outside is reported."""
    paths = []

    def unreadable(error: OSError) -> None:
        report.errors.append((str(Path(error.filename).relative_to(root)), f"cannot be read ({error.strerror})"))

    for directory, folders, files in os.walk(root, onerror=unreadable):
        here = Path(directory)
        for name in folders:
            path = here / name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                report.errors.append(
                    (str(path.relative_to(root)), "symbolic link to a folder outside the import folder: skipped")
                )
        for name in files:
            path = here / name
            if not name.endswith(".md"):
                continue
            if not path.resolve().is_relative_to(root):
                report.errors.append(
                    (str(path.relative_to(root)), "symbolic link to a file outside the import folder: skipped")
                )
            elif not path.is_file():
                report.errors.append((str(path.relative_to(root)), "not a regular file: skipped"))
            else:
                paths.append(path)
    return sorted(paths)


def import_folder(folder: Path) -> ImportReport:
    """Create or update the categories of `folder/categories.yaml`, then the articles of every
    `*.md` below `folder`, in one transaction. Every file is checked before anything is stored; a
    malformed article is reported with its reason and skipped, the others are imported. A malformed
    categories file, or an article in a category neither the knowledge base nor that file has,
    refuses the whole import (ImportRefused)."""
    root = Path(folder).resolve()
    entries = folder_categories(Path(folder))
    report = ImportReport()
    parsed: list[ArticleFile] = []
    seen: dict[tuple[str, str], Path] = {}
    for path in _article_paths(root, report):
        label = str(path.relative_to(root))
        try:
            article_file = parse(path)
            if (article_file.language, article_file.slug) in seen:
                raise MalformedFile(
                    f"same language and slug as {seen[(article_file.language, article_file.slug)].name}"
                )
        except MalformedFile as error:
            report.errors.append((label, str(error)))
            continue
        seen[(article_file.language, article_file.slug)] = path
        parsed.append(article_file)
    known = {entry.key for entry in entries} | set(db.session.scalars(select(Category.key)))
    unknown = [
        (
            str(article_file.path.relative_to(root)),
            f"unknown category {article_file.category!r}: it is neither in the knowledge base "
            f"nor in {Path(folder) / CATEGORIES_FILE}",
        )
        for article_file in parsed
        if article_file.category not in known
    ]
    if unknown:
        raise ImportRefused(report.errors + unknown)
    report.categories = apply_entries(entries)
    articles = {}
    for article_file in parsed:
        articles[article_file.path] = _apply(article_file, report, str(article_file.path.relative_to(root)))
    db.session.flush()
    for article_file in parsed:
        if article_file.translation_of:
            other_language = next(language for language in LANGUAGES if language != article_file.language)
            other = db.session.scalar(
                select(Article).where(Article.language == other_language, Article.slug == article_file.translation_of)
            )
            label = str(article_file.path.relative_to(root))
            if other is None:
                report.errors.append(
                    (label, f"translation_of: no {other_language} article {article_file.translation_of!r}")
                )
                continue
            article = articles[article_file.path]
            if article.translation is not other:
                link_translation(article, other)
                if label not in report.updated and label not in report.created:
                    report.unchanged.remove(label)
                    report.updated.append(label)
    for article in articles.values():
        backends.schedule(db.session(), article.id, index_document(article))
    db.session.commit()
    return report


def _front_matter(article: Article) -> str:
    lines = [
        "---",
        f"title: {yaml_text(article.published_revision.title)}",
        f"slug: {article.slug}",
        f"language: {article.language}",
        f"category: {article.category}",
        f"visibility: {article.visibility}",
        f"tags: [{', '.join(yaml_text(tag) for tag in article.tags or [])}]",
    ]
    # The link is written on one side only (the English one), as the shipped content does.
    if article.translation is not None and article.language == "en":
        lines.append(f"translation_of: {article.translation.slug}")
    lines.append("---")
    return "\n".join(lines)


def export_folder(folder: Path) -> tuple[int, int]:
    """Write every category to `<folder>/categories.yaml` (archived ones too) and every live
    (published) article as `<folder>/<language>/<slug>.md`; how many articles and categories."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    categories = all_categories()
    (folder / CATEGORIES_FILE).write_text(categories_document(categories), encoding="utf-8")
    articles = db.session.scalars(
        select(Article)
        .options(joinedload(Article.published_revision), joinedload(Article.translation))
        .where(Article.status == ArticleStatus.PUBLISHED.value)
        .order_by(Article.language, Article.slug)
    )
    count = 0
    for article in articles:
        target = folder / article.language / f"{article.slug}.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"{_front_matter(article)}\n\n{article.published_revision.body}", encoding="utf-8")
        count += 1
    return count, len(categories)
