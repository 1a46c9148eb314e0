"""Forms of the knowledge-base editor and feedback."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from kb.categories import MAX_DESCRIPTION_LENGTH, MAX_KEY_LENGTH, MAX_LABEL_LENGTH, CategoryNames
from kb.feedback import MAX_COMMENT_LENGTH
from kb.models import VISIBILITY_LABELS, Category
from kb.services import MAX_BODY_LENGTH, MAX_NOTE_LENGTH, MAX_SLUG_LENGTH, MAX_TITLE_LENGTH
from portal.core.i18n import LANGUAGE_NAMES
from portal.core.text import clean_line

# One-line fields are cleaned before they are validated, so limits count what is kept.
ONE_LINE = [clean_line]


class ArticleForm(FlaskForm):
    title = StringField(
        _l("Title"),
        validators=[DataRequired(message=_l("A title is required.")), Length(max=MAX_TITLE_LENGTH)],
        filters=ONE_LINE,
    )
    body = TextAreaField(_l("Text (Markdown)"), validators=[DataRequired(), Length(max=MAX_BODY_LENGTH)])
    category = SelectField(_l("Category"), choices=[])
    tags = StringField(_l("Tags (comma separated)"), validators=[Length(max=600)], filters=ONE_LINE)
    visibility = SelectField(
        _l("Visibility"), choices=[SelectChoice(key.value, label) for key, label in VISIBILITY_LABELS.items()]
    )
    note = StringField(
        _l("Change note (required to publish)"), validators=[Length(max=MAX_NOTE_LENGTH)], filters=ONE_LINE
    )
    base_revision = HiddenField()

    def set_categories(self, categories: list[Category], language: str, kept: tuple[str, ...] = ()) -> None:
        """Offer the active categories in order, and an archived one only to an article in it."""
        self.category.choices = [
            SelectChoice(category.key, _("%(label)s (archived)", label=category.label(language)))
            if category.archived
            else SelectChoice(category.key, category.label(language))
            for category in categories
            if not category.archived or category.key in kept
        ]


class NewArticleForm(ArticleForm):
    language = SelectField(_l("Language"), choices=[SelectChoice(code, name) for code, name in LANGUAGE_NAMES.items()])
    slug = StringField(_l("Address (slug)"), validators=[DataRequired(), Length(max=MAX_SLUG_LENGTH)], filters=ONE_LINE)
    translation_id = SelectField(_l("Translation of"), coerce=int, choices=[], validators=[Optional()])

    def set_translations(self, articles) -> None:
        self.translation_id.choices = [SelectChoice(0, "—")] + [
            SelectChoice(article.id, f"[{article.language}] {article.title or article.slug}") for article in articles
        ]


class FeedbackForm(FlaskForm):
    helpful = RadioField(
        _l("Was this helpful?"),
        choices=[SelectChoice("yes", _l("Yes")), SelectChoice("no", _l("No"))],
        validators=[InputRequired()],
    )
    comment = TextAreaField(_l("What was missing? (optional)"), validators=[Length(max=MAX_COMMENT_LENGTH)])


class CategoryNamesForm(FlaskForm):
    label_es = StringField(_l("Name in Spanish"), validators=[Length(max=MAX_LABEL_LENGTH)], filters=ONE_LINE)
    label_en = StringField(_l("Name in English"), validators=[Length(max=MAX_LABEL_LENGTH)], filters=ONE_LINE)
    description_es = StringField(
        _l("Description in Spanish (optional)"), validators=[Length(max=MAX_DESCRIPTION_LENGTH)], filters=ONE_LINE
    )
    description_en = StringField(
        _l("Description in English (optional)"), validators=[Length(max=MAX_DESCRIPTION_LENGTH)], filters=ONE_LINE
    )

    @property
    def names(self) -> CategoryNames:
        return CategoryNames(
            self.label_es.data, self.label_en.data, self.description_es.data or "", self.description_en.data or ""
        )


class CategoryForm(CategoryNamesForm):
    key = StringField(_l("Key (in addresses and files)"), validators=[Length(max=MAX_KEY_LENGTH)], filters=ONE_LINE)
