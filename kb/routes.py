"""Knowledge-base pages: browsing, search, articles and feedback; the editor and history for staff."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from auth.permissions import require_staff
from kb import backends, categories, search_log, services
from kb import feedback as kb_feedback
from kb.diffs import diff_lines
from kb.forms import ArticleForm, FeedbackForm, NewArticleForm
from kb.models import VISIBILITY_LABELS, Article, ArticleStatus
from portal.core.errors import InvalidInput
from portal.core.extensions import db, limiter
from portal.core.i18n import LANGUAGES
from portal.core.limits import client_address, setting, typing_limit, user_key
from portal.core.markdown import render_markdown
from portal.core.text import clean_line
from portal.core.web import database_id, page_number, render, render_list, show_form_error

bp = Blueprint("kb", __name__, url_prefix="/kb")
LANGUAGE = f"<any({','.join(LANGUAGES)}):language>"
SEARCH_LOG_SESSION_KEY = "kb_last_search"
SEARCH_LANGUAGE_CHOICES = (*LANGUAGES, "all")
MAX_QUERY_LENGTH = 200
# A search page deeper than this is not a reader paging through results.
MAX_SEARCH_PAGE = 100


@bp.app_template_filter("markdown")
def markdown_filter(text: str | None):
    """Markdown rendered and sanitized, for templates."""
    return render_markdown(text or "")


def _user():
    return current_user._get_current_object() if current_user.is_authenticated else None


def _ui_language() -> str:
    return str(get_locale())


def _article_or_404(language: str, slug: str) -> Article:
    if not services.is_slug(slug):
        abort(404)
    article = services.readable_article(_user(), language, slug)
    if article is None:
        abort(404)
    return article


def _staff_article_or_404(language: str, slug: str) -> Article:
    if not services.is_slug(slug):
        abort(404)
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
    """The live articles of one category (archived ones too: their articles stay reachable)."""
    found = categories.category_by_key(category)
    if found is None:
        abort(404)
    language = _ui_language()
    return render(
        "kb/category.html",
        category=found,
        articles=services.articles_in_category(_user(), language, found.key),
    )


def _search_languages(choice: str) -> tuple[str, ...]:
    return LANGUAGES if choice == "all" else (choice,)


def _search_client() -> str:
    """Who is searching, for the search log's client key: the user, or for anonymous visitors
    their address and browser."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"anonymous:{client_address()} {request.user_agent.string}"


def _previous_search() -> tuple[int, str] | None:
    """The (log row, query) this session searched last, if the session holds a sane one."""
    previous = session.get(SEARCH_LOG_SESSION_KEY)
    if isinstance(previous, list) and len(previous) == 2 and database_id(previous[0]):
        return int(previous[0]), str(previous[1])
    return None


@bp.get("/search")
@limiter.limit(setting("SEARCH_LIMIT_PER_CLIENT"), key_func=user_key)
def search_page():
    """Search as you type (htmx gets the results fragment); a plain form without JavaScript."""
    query = clean_line(request.args.get("q", ""))[:MAX_QUERY_LENGTH]
    language_choice = request.args.get("lang", "")
    if language_choice not in SEARCH_LANGUAGE_CHOICES:
        language_choice = _ui_language()
    category_choice = request.args.get("category", "")
    category_labels = categories.category_labels(_ui_language())
    if category_choice not in category_labels:
        category_choice = ""
    results = backends.search(
        query,
        _search_languages(language_choice),
        services.visibilities_for(_user()),
        category=category_choice or None,
        page=min(page_number(), MAX_SEARCH_PAGE),
    )
    if results.query:
        logged = search_log.log_search(
            results.query, language_choice, results.found, _user(), _search_client(), _previous_search()
        )
        session[SEARCH_LOG_SESSION_KEY] = list(logged) if logged else None
    return render(
        "kb/search.html",
        "kb/_search_results.html",
        results=results,
        query=query,
        language_choice=language_choice,
        category_choice=category_choice,
        categories=category_labels,
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
        "vote": kb_feedback.vote_of(user, article),
        "feedback_form": FeedbackForm(formdata=None),
        "category_label": categories.category_by_key(article.category).label(_ui_language()),
        "visibility_label": VISIBILITY_LABELS,
    }
    translation = article.translation
    if translation is not None and services.can_read(user, translation):
        context["translation"] = translation
    if services.can_edit(user):
        context["feedback"] = kb_feedback.feedback_summary(article)
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
            "kb/article_feedback.html",
            "kb/_feedback.html",
            status_code=422,
            article=article,
            feedback_form=form,
            vote=None,
        )
    vote = kb_feedback.record_feedback(current_user, article, form.helpful.data == "yes", form.comment.data)
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
    form.set_categories(categories.all_categories(), _ui_language())
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
    category_choices = categories.all_categories(), _ui_language(), (article.category, latest.category)
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
        form.set_categories(*category_choices)
        return render("kb/edit.html", form=form, article=article)
    form = ArticleForm()
    form.set_categories(*category_choices)
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
@typing_limit
def preview():
    """The sanitized HTML of the Markdown being edited (live preview)."""
    body = request.form.get("body", "")[: services.MAX_BODY_LENGTH]
    return render("kb/_preview.html", "kb/_preview.html", html=render_markdown(body))


@bp.get(f"/{LANGUAGE}/<slug>/history")
@require_staff
def history(language: str, slug: str):
    """Every revision of an article, newest first, with a picker to compare two."""
    article = _staff_article_or_404(language, slug)
    return render(
        "kb/history.html",
        article=article,
        revisions=services.revisions(article),
        feedback=kb_feedback.feedback_summary(article),
    )


@bp.get(f"/{LANGUAGE}/<slug>/diff")
@require_staff
def diff(language: str, slug: str):
    """Title and body differences between two revisions."""
    article = _staff_article_or_404(language, slug)
    numbers = database_id(request.args.get("from")), database_id(request.args.get("to"))
    if None in numbers:
        abort(404)
    older, newer = (services.revision(article, number) for number in numbers)
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
    if status not in {state.value for state in ArticleStatus}:
        status = ""
    language = request.args.get("language", "")
    if language not in LANGUAGES:
        language = ""
    query = clean_line(request.args.get("q", ""))[: services.MAX_SLUG_LENGTH]
    statement = services.staff_article_list(language or None, status or None, query)
    return render_list(
        "kb/manage.html",
        "kb/_manage_list.html",
        statement,
        per_page=50,
        status=status,
        language=language,
        query=query,
        manages_categories=categories.manages_categories(current_user),
    )


@bp.get("/reports/searches")
@require_staff
def search_report():
    """Top queries and zero-result queries (content gaps) over the last 7 or 30 days."""
    days = 30 if request.args.get("days") == "30" else 7
    min_clients = current_app.config["SEARCH_REPORT_MIN_CLIENTS"]
    top, zero = search_log.search_report(days, min_clients)
    return render("kb/search_report.html", days=days, top=top, zero=zero, min_clients=min_clients)
