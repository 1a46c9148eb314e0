"""Knowledge-base pages: browsing, search, articles and feedback; the editor and history for staff."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from auth.permissions import require_staff
from kb import search, services
from kb.forms import ArticleForm, FeedbackForm, NewArticleForm
from kb.models import CATEGORY_LABELS, VISIBILITY_LABELS, Article
from kb.rendering import diff_lines, render_markdown
from portal.errors import InvalidInput
from portal.extensions import db
from portal.web import page_number, paginate, render, show_form_error

bp = Blueprint("kb", __name__, url_prefix="/kb")
LANGUAGE = "<any(es,en):language>"
SEARCH_LOG_SESSION_KEY = "kb_last_search"


@bp.app_template_filter("markdown")
def markdown_filter(text: str | None):
    """Markdown rendered and sanitized, for templates."""
    return render_markdown(text or "")


def _user():
    return current_user._get_current_object() if current_user.is_authenticated else None


def _ui_language() -> str:
    return str(get_locale())


def _article_or_404(language: str, slug: str) -> Article:
    article = services.readable_article(_user(), language, slug)
    if article is None:
        abort(404)
    return article


def _staff_article_or_404(language: str, slug: str) -> Article:
    article = db.session.scalar(db.select(Article).where(Article.language == language, Article.slug == slug))
    if article is None:
        abort(404)
    return article


@bp.get("/")
def index():
    """Categories, recent articles and the search box, in the reader's language."""
    language = _ui_language()
    return render(
        "kb/index.html",
        categories=services.category_counts(_user(), language),
        recent=services.recently_updated(_user(), language),
    )


@bp.get("/category/<category>")
def category(category: str):
    """The live articles of one category."""
    if category not in CATEGORY_LABELS:
        abort(404)
    language = _ui_language()
    return render(
        "kb/category.html",
        category=category,
        category_label=CATEGORY_LABELS[category],
        articles=services.articles_in_category(_user(), language, category),
    )


def _search_languages(choice: str) -> tuple[str, ...]:
    if choice == "all":
        return search.LANGUAGES
    return (choice,) if choice in search.LANGUAGES else (_ui_language(),)


@bp.get("/search")
def search_page():
    """Search as you type (htmx gets the results fragment); a plain form without JavaScript."""
    query = request.args.get("q", "")[:200]
    language_choice = request.args.get("lang", "") or _ui_language()
    category_choice = request.args.get("category", "")
    if category_choice not in CATEGORY_LABELS:
        category_choice = ""
    results = search.search(
        query,
        _search_languages(language_choice),
        services.visibilities_for(_user()),
        category=category_choice or None,
        page=page_number(),
    )
    if results.query:
        previous = session.get(SEARCH_LOG_SESSION_KEY)
        logged = services.log_search(
            results.query, language_choice, results.found, _user(), tuple(previous) if previous else None
        )
        session[SEARCH_LOG_SESSION_KEY] = list(logged) if logged else None
    return render(
        "kb/search.html",
        "kb/_search_results.html",
        results=results,
        query=query,
        language_choice=language_choice,
        category_choice=category_choice,
        categories=CATEGORY_LABELS,
    )


@bp.get(f"/{LANGUAGE}/<slug>")
def article(language: str, slug: str):
    """One article: live text, translation link, related articles, feedback (staff: status panel)."""
    article = _article_or_404(language, slug)
    user = _user()
    context = {
        "article": article,
        "body": services.rendered_body(article.published_revision) if article.published_revision else "",
        "related": services.related_articles(user, article),
        "vote": services.vote_of(user, article),
        "feedback_form": FeedbackForm(formdata=None),
        "category_label": CATEGORY_LABELS.get(article.category, article.category),
        "visibility_label": VISIBILITY_LABELS,
    }
    translation = article.translation
    if translation is not None and services.can_read(user, translation):
        context["translation"] = translation
    if services.can_edit(user):
        context["feedback"] = services.feedback_summary(article)
        if article.published_revision is None:
            draft = services.latest_revision(article)
            context["body"] = services.rendered_body(draft)
            context["draft_title"] = draft.title
    # htmx asks for the text alone when an article is read in place (e.g. in ticket suggestions).
    return render("kb/article.html", "kb/_article_inline.html", **context)


@bp.post(f"/{LANGUAGE}/<slug>/feedback")
@login_required
def feedback(language: str, slug: str):
    """Record the reader's "was this helpful?" vote (one per user; voting again changes it)."""
    article = _article_or_404(language, slug)
    form = FeedbackForm()
    if not form.validate_on_submit():
        return render(
            "kb/article_feedback.html", "kb/_feedback.html", status_code=422, article=article, feedback_form=form, vote=None
        )
    vote = services.record_feedback(current_user, article, form.helpful.data == "yes", form.comment.data)
    if not request.htmx:
        return redirect(url_for("kb.article", language=language, slug=slug) + "#feedback")
    return render(
        "kb/article_feedback.html",
        "kb/_feedback.html",
        article=article,
        feedback_form=FeedbackForm(formdata=None),
        vote=vote,
        thanked=True,
    )


# Staff: editing -------------------------------------------------------------------------


def _submitted_text(form: ArticleForm) -> services.ArticleText:
    return services.ArticleText(
        title=form.title.data,
        body=form.body.data,
        category=form.category.data,
        tags=form.tags.data,
        visibility=form.visibility.data,
        note=form.note.data,
        publish=request.form.get("action") == "publish",
    )


@bp.route("/new", methods=["GET", "POST"])
@require_staff
def new_article():
    """Write a new article (saved as a draft or published at once)."""
    form = NewArticleForm(language=request.args.get("language", _ui_language()))
    form.set_translations(db.session.scalars(services.staff_article_list()))
    if form.validate_on_submit():
        translation = db.session.get(Article, form.translation_id.data) if form.translation_id.data else None
        try:
            article = services.create_article(
                current_user, form.language.data, form.slug.data, _submitted_text(form), translation
            )
        except InvalidInput as error:
            show_form_error(form, error)
        else:
            return redirect(url_for("kb.article", language=article.language, slug=article.slug))
    status = 422 if form.is_submitted() else 200
    return render("kb/edit.html", status_code=status, form=form, article=None)


@bp.route(f"/{LANGUAGE}/<slug>/edit", methods=["GET", "POST"])
@require_staff
def edit_article(language: str, slug: str):
    """Edit an article; every save is a new revision. A save based on an outdated revision is
    refused with a diff, and the editor keeps the text."""
    article = _staff_article_or_404(language, slug)
    latest = services.latest_revision(article)
    if request.method == "GET":
        form = ArticleForm(
            formdata=None,
            title=latest.title,
            body=latest.body,
            category=latest.category,
            tags=", ".join(latest.tags or []),
            visibility=latest.visibility,
            base_revision=str(article.latest_revision_number),
        )
        return render("kb/edit.html", form=form, article=article)
    form = ArticleForm()
    if not (form.base_revision.data or "").isdigit():
        abort(400, description=_("The editor lost track of the revision it started from. Reload the page."))
    conflict = None
    if form.validate_on_submit():
        try:
            services.save_revision(current_user, article, int(form.base_revision.data), _submitted_text(form))
        except services.EditConflict as error:
            conflict = error.current
        except InvalidInput as error:
            show_form_error(form, error)
        else:
            return redirect(url_for("kb.article", language=language, slug=slug))
    if conflict is not None:
        # Keep the text typed here; let the next save build on the newest revision on purpose.
        form.base_revision.data = str(conflict.number)
        return render(
            "kb/edit.html",
            status_code=409,
            form=form,
            article=article,
            conflict=conflict,
            conflict_diff=diff_lines(conflict.body, form.body.data or ""),
        )
    return render("kb/edit.html", status_code=422, form=form, article=article)


@bp.post("/preview")
@require_staff
def preview():
    """The sanitized HTML of the Markdown being edited (live preview)."""
    return render("kb/_preview.html", "kb/_preview.html", html=render_markdown(request.form.get("body", "")[:200_000]))


@bp.get(f"/{LANGUAGE}/<slug>/history")
@require_staff
def history(language: str, slug: str):
    """Every revision of an article, newest first, with a picker to compare two."""
    article = _staff_article_or_404(language, slug)
    return render(
        "kb/history.html",
        article=article,
        revisions=services.revisions(article),
        feedback=services.feedback_summary(article),
    )


@bp.get(f"/{LANGUAGE}/<slug>/diff")
@require_staff
def diff(language: str, slug: str):
    """Title and body differences between two revisions."""
    article = _staff_article_or_404(language, slug)
    older = services.revision(article, request.args.get("from", 0, type=int))
    newer = services.revision(article, request.args.get("to", 0, type=int))
    if older is None or newer is None:
        abort(404)
    return render(
        "kb/diff.html",
        "kb/_diff.html",
        article=article,
        older=older,
        newer=newer,
        lines=diff_lines(older.body, newer.body),
    )


@bp.post(f"/{LANGUAGE}/<slug>/restore/<int:number>")
@require_staff
def restore(language: str, slug: str, number: int):
    """Publish a copy of an old revision as the newest one."""
    article = _staff_article_or_404(language, slug)
    try:
        services.restore_revision(current_user, article, number, request.form.get("note", ""))
    except InvalidInput:
        abort(404)
    return redirect(url_for("kb.history", language=language, slug=slug))


@bp.post(f"/{LANGUAGE}/<slug>/archive")
@require_staff
def archive(language: str, slug: str):
    """Archive (take offline) or unarchive an article."""
    article = _staff_article_or_404(language, slug)
    try:
        services.set_archived(current_user, article, request.form.get("archived") == "1")
    except InvalidInput as error:
        abort(409, description=error.message)
    return redirect(url_for("kb.article", language=language, slug=slug))


@bp.get("/manage")
@require_staff
def manage():
    """All articles in every state, for staff."""
    status = request.args.get("status", "")
    language = request.args.get("language", "")
    statement = services.staff_article_list(
        language if language in search.LANGUAGES else None,
        status if status in ("draft", "published", "archived") else None,
        request.args.get("q", ""),
    )
    return render(
        "kb/manage.html",
        "kb/_manage_list.html",
        page=paginate(statement, page_number(), per_page=50),
        status=status,
        language=language,
        query=request.args.get("q", ""),
    )


@bp.get("/reports/searches")
@require_staff
def search_report():
    """Top queries and zero-result queries (content gaps) over the last 7 or 30 days."""
    days = 30 if request.args.get("days") == "30" else 7
    top, zero = services.search_report(days)
    return render("kb/search_report.html", days=days, top=top, zero=zero)
