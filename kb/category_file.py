"""The categories file, `categories.yaml` beside the articles: read and checked, written, and
imported on its own.

    categories:
      - key: playback
        es: "Reproducción y códigos de error"
        en: "Playback and error codes"
        description_es: "…"   # optional, like description_en
        archived: true        # optional
"""

from __future__ import annotations

from pathlib import Path

import yaml
from flask_babel import force_locale

from kb.categories import CategoryEntry, CategoryNames, EntryChanges, apply_entries, checked_names, is_key
from kb.file_format import ImportRefused, MalformedFile, read_text, yaml_text
from kb.models import Category
from portal.core.errors import InvalidInput
from portal.core.extensions import db

CATEGORIES_FILE = "categories.yaml"
CATEGORY_REQUIRED = ("key", "es", "en")
CATEGORY_OPTIONAL = ("description_es", "description_en", "archived")
# A category's names in the file → their fields in `CategoryNames`.
CATEGORY_NAMES = {
    "es": "label_es",
    "en": "label_en",
    "description_es": "description_es",
    "description_en": "description_en",
}


def _category_entry(item, number: int) -> CategoryEntry:
    where = f"category {number}"
    if not isinstance(item, dict):
        raise MalformedFile(f"{where} must be a mapping with key, es and en")
    missing = [name for name in CATEGORY_REQUIRED if name not in item]
    unknown = [str(name) for name in item if name not in CATEGORY_REQUIRED + CATEGORY_OPTIONAL]
    if missing or unknown:
        problem = f"missing keys: {', '.join(missing)}" if missing else f"unknown keys: {', '.join(unknown)}"
        raise MalformedFile(f"{where}: {problem}")
    for name in ("key", *CATEGORY_NAMES):
        if name in item and not isinstance(item[name], str):
            raise MalformedFile(f"{where}: '{name}' must be a text")
    if not is_key(item["key"]):
        raise MalformedFile(f"{where}: key must use 2 to 40 lowercase letters, digits and hyphens")
    where = f"{where} ({item['key']})"
    if not isinstance(item.get("archived", False), bool):
        raise MalformedFile(f"{where}: archived must be true or false")
    # The services' own checks, with their messages in English for the command line.
    with force_locale("en"):
        try:
            names = checked_names(
                CategoryNames(**{field: item.get(name, "") for name, field in CATEGORY_NAMES.items()})
            )
        except InvalidInput as error:
            name = next(name for name, field in CATEGORY_NAMES.items() if field == error.field)
            raise MalformedFile(f"{where}: {name}: {error.message}") from None
    return CategoryEntry(item["key"], names, item.get("archived", False))


def read_categories(path: Path) -> list[CategoryEntry]:
    """Read and check a categories file (every category, before anything is stored);
    MalformedFile says what is wrong with it."""
    try:
        document = yaml.safe_load(read_text(path))
    except yaml.YAMLError as error:
        raise MalformedFile(f"not valid YAML: {error}".splitlines()[0]) from None
    if (
        not isinstance(document, dict)
        or list(document) != ["categories"]
        or not isinstance(document["categories"], list)
    ):
        raise MalformedFile("the file must hold one key, 'categories', with a list of categories")
    entries = [_category_entry(item, number) for number, item in enumerate(document["categories"], start=1)]
    keys = [entry.key for entry in entries]
    if twice := sorted({key for key in keys if keys.count(key) > 1}):
        raise MalformedFile(f"categories listed twice: {', '.join(twice)}")
    return entries


def folder_categories(folder: Path) -> list[CategoryEntry]:
    """The categories of `folder/categories.yaml` (no file: none); a malformed file, or a link to
    one outside the folder, refuses the import of the folder."""
    path = folder / CATEGORIES_FILE
    if not path.exists() and not path.is_symlink():
        return []
    if not path.resolve().is_relative_to(folder.resolve()):
        raise ImportRefused([(str(path), "symbolic link to a file outside the import folder")])
    try:
        return read_categories(path)
    except MalformedFile as error:
        raise ImportRefused([(str(path), str(error))]) from None


def import_categories(path: Path) -> EntryChanges:
    """Create or update the categories of one categories file, and commit (ImportRefused when it
    is malformed: nothing stored)."""
    try:
        entries = read_categories(path)
    except MalformedFile as error:
        raise ImportRefused([(str(path), str(error))]) from None
    changes = apply_entries(entries)
    db.session.commit()
    return changes


def categories_document(categories: list[Category]) -> str:
    """The categories file of `categories`, in their order; descriptions and `archived` only
    where they say something."""
    lines = ["categories:"] if categories else ["categories: []"]
    for category in categories:
        lines += [
            f"  - key: {category.key}",
            f"    es: {yaml_text(category.label_es)}",
            f"    en: {yaml_text(category.label_en)}",
        ]
        lines += [
            f"    {name}: {yaml_text(getattr(category, name))}"
            for name in ("description_es", "description_en")
            if getattr(category, name)
        ]
        if category.archived:
            lines.append("    archived: true")
    return "\n".join(lines) + "\n"
