"""Knowledge-base categories: read in the reader's language, the checks their keys and names pass,
the administrator's changes (add, rename, reorder, archive; audited) and a categories file's."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection
from dataclasses import asdict, dataclass
from enum import StrEnum

from flask_babel import gettext as _
from sqlalchemy import func, select

from auth.models import Role, User
from kb.models import Category
from portal.core import audit
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.text import clean_line

KEY_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MIN_KEY_LENGTH = 2
MAX_KEY_LENGTH = 40
MAX_LABEL_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 500
# Categories shape the whole knowledge base (every editor's choices, the readers' home), so only
# the administrator changes them; every staff member still writes articles.
CATEGORY_ADMINISTRATORS = frozenset({Role.TICKET_ADMIN})


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class CategoryNames:
    """What a category is called, in both languages, and what it holds (optional)."""

    label_es: str
    label_en: str
    description_es: str = ""
    description_en: str = ""


@dataclass(frozen=True)
class CategoryEntry:
    """One category as a categories file writes it."""

    key: str
    names: CategoryNames
    archived: bool = False


@dataclass
class EntryChanges:
    """The keys a categories file created, updated and left as they were."""

    created: list[str] = dataclasses.field(default_factory=list)
    updated: list[str] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)


# Reading ------------------------------------------------------------------------------------


def is_key(text: str) -> bool:
    """Whether `text` can be a category's key: 2 to 40 lowercase letters and digits, words joined
    by single hyphens."""
    return MIN_KEY_LENGTH <= len(text) <= MAX_KEY_LENGTH and KEY_PATTERN.fullmatch(text) is not None


def manages_categories(user: User | None) -> bool:
    return user is not None and user.is_authenticated and user.role_enum in CATEGORY_ADMINISTRATORS


def all_categories() -> list[Category]:
    """Every category in the administrator's order, archived ones included (one query)."""
    return list(db.session.scalars(select(Category).order_by(Category.position, Category.id)))


def category_by_key(key: str) -> Category | None:
    return db.session.scalar(select(Category).where(Category.key == key)) if is_key(key) else None


def offered_category(preferred: str) -> str:
    """`preferred` when it may take new articles; else the first category that may (a draft
    started elsewhere, e.g. from a ticket, is never refused for its category)."""
    listed = [category for category in all_categories() if not category.archived]
    keys = [category.key for category in listed]
    return preferred if preferred in keys else (keys[0] if keys else preferred)


def category_labels(language: str) -> dict[str, str]:
    """Every category's key → its label in `language`, in order, archived ones included (their
    articles are still read and searched)."""
    return {category.key: category.label(language) for category in all_categories()}


# Checks -------------------------------------------------------------------------------------


def check_key(key: str | None) -> str:
    key = clean_line(key).lower()
    if not is_key(key):
        raise InvalidInput(_("Use 2 to 40 lowercase letters, digits and hyphens."), "key")
    return key


def checked_names(names: CategoryNames) -> CategoryNames:
    """The names cleaned (see `clean_line`), or InvalidInput on the first field that is missing or
    too long."""
    cleaned = {field: clean_line(value) for field, value in asdict(names).items()}
    for field in ("label_es", "label_en"):
        if not cleaned[field]:
            raise InvalidInput(_("A name is required."), field)
        if len(cleaned[field]) > MAX_LABEL_LENGTH:
            raise InvalidInput(_("The name is at most %(count)d characters long.", count=MAX_LABEL_LENGTH), field)
    for field in ("description_es", "description_en"):
        if len(cleaned[field]) > MAX_DESCRIPTION_LENGTH:
            raise InvalidInput(
                _("The description is at most %(count)d characters long.", count=MAX_DESCRIPTION_LENGTH), field
            )
    return CategoryNames(**cleaned)


def check_article_category(key: str, kept: Collection[str] = ()) -> None:
    """`key` names a category an article may be filed under: one that exists and, unless the
    article is in it already (`kept`), is not archived."""
    category = category_by_key(key)
    if category is None:
        raise InvalidInput(_("Unknown category."), "category")
    if category.archived and key not in kept:
        raise InvalidInput(_("This category is archived; choose another one."), "category")


# Changing -----------------------------------------------------------------------------------


def _snapshot(category: Category) -> dict:
    return {
        "label_es": category.label_es,
        "label_en": category.label_en,
        "description_es": category.description_es,
        "description_en": category.description_en,
        "position": category.position,
        "archived": category.archived,
    }


def _next_position() -> int:
    return (db.session.scalar(select(func.max(Category.position))) or 0) + 1


def create_category(actor: User, key: str, names: CategoryNames) -> Category:
    """A new category, last in the order."""
    key, names = check_key(key), checked_names(names)
    if category_by_key(key) is not None:
        raise InvalidInput(_("Another category already uses this key."), "key")
    category = Category(key=key, position=_next_position(), **asdict(names))
    db.session.add(category)
    db.session.flush()
    audit.record(actor, "kb.category_created", category, None, _snapshot(category), label=key)
    db.session.commit()
    return category


def rename_category(actor: User, category: Category, names: CategoryNames) -> Category:
    """New labels and descriptions for `category` (its key, in addresses and files, stays)."""
    names = checked_names(names)
    before = _snapshot(category)
    for field, value in asdict(names).items():
        setattr(category, field, value)
    if _snapshot(category) != before:
        audit.record(actor, "kb.category_renamed", category, before, _snapshot(category), label=category.key)
    db.session.commit()
    return category


def move_category(actor: User, category: Category, direction: Direction) -> Category:
    """Swap `category` with its neighbour above or below (nothing at either end)."""
    # Locked and read afresh, so two moves at once apply one after the other.
    locked = select(Category).order_by(Category.position, Category.id).with_for_update()
    ordered = list(db.session.scalars(locked.execution_options(populate_existing=True)))
    here = ordered.index(category)
    there = here - 1 if direction is Direction.UP else here + 1
    if not 0 <= there < len(ordered):
        db.session.rollback()
        return category
    before = category.position
    ordered[here], ordered[there] = ordered[there], ordered[here]
    # Numbered afresh, so positions stay 1..n and a swap always changes the order.
    for position, item in enumerate(ordered, start=1):
        item.position = position
    audit.record(
        actor, "kb.category_moved", category, {"position": before}, {"position": category.position}, label=category.key
    )
    db.session.commit()
    return category


def set_category_archived(actor: User, category: Category, archived: bool) -> Category:
    """Archive a category (its articles stay where they are, readable; new articles go elsewhere)
    or bring it back."""
    if category.archived != archived:
        category.archived = archived
        action = "kb.category_archived" if archived else "kb.category_unarchived"
        audit.record(actor, action, category, {"archived": not archived}, {"archived": archived}, label=category.key)
    db.session.commit()
    return category


def apply_entries(entries: list[CategoryEntry]) -> EntryChanges:
    """Create or update the categories a file names, in the caller's transaction (a file is the
    operator's, like its articles: not audited). The file's order applies among the categories it
    names, in the places they hold: an exported file restores the order, and a file naming only new
    categories appends them."""
    ordered = all_categories()
    before = {category.key: _snapshot(category) for category in ordered}
    existing = {category.key: category for category in ordered}
    named = []
    for entry in entries:
        category = existing.get(entry.key)
        if category is None:
            category = Category(key=entry.key)
            db.session.add(category)
            ordered.append(category)
        for field, value in asdict(entry.names).items():
            setattr(category, field, value)
        category.archived = entry.archived
        named.append(category)
    slots = [index for index, category in enumerate(ordered) if category in named]
    for index, category in zip(slots, named, strict=True):
        ordered[index] = category
    for position, category in enumerate(ordered, start=1):
        category.position = position
    changes = EntryChanges()
    for category in named:
        if category.key not in before:
            changes.created.append(category.key)
        elif _snapshot(category) != before[category.key]:
            changes.updated.append(category.key)
        else:
            changes.unchanged.append(category.key)
    return changes
