"""The categories screen of the knowledge base: the ticket administrator adds, renames, reorders
and archives categories (on the `kb` blueprint, imported by `create_app`)."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from htmx_flask import make_response as htmx_response

from auth.permissions import require_role
from kb import categories
from kb.forms import CategoryForm, CategoryNamesForm
from kb.models import Category
from kb.routes import bp
from portal.core.errors import InvalidInput
from portal.core.web import render, show_form_error

require_category_admin = require_role(*categories.CATEGORY_ADMINISTRATORS)
LIST_CHANGED = "categories-changed"


def _category_or_404(key: str) -> Category:
    category = categories.category_by_key(key)
    if category is None:
        abort(404)
    return category


def _name(category: Category) -> str:
    return category.label(str(get_locale()))


def _listed():
    """The categories page, or its list alone for htmx."""
    form = CategoryForm(formdata=None)
    return render("kb/categories.html", "kb/_category_list.html", categories=categories.all_categories(), form=form)


def _back_to_list(message: str):
    """The answer to a change: the list for htmx, else back to the page with `message`."""
    if request.htmx:
        return _listed()
    flash(message, "success")
    return redirect(url_for("kb.categories_page"))


@bp.get("/categories")
@require_category_admin
def categories_page():
    """Every category in order, archived ones included, with a form to add one."""
    return _listed()


@bp.post("/categories")
@require_category_admin
def create_category():
    """Add a category at the end of the order; htmx gets a fresh form and the list refreshes."""
    form = CategoryForm()
    if form.validate_on_submit():
        try:
            created = categories.create_category(current_user, form.key.data, form.names)
        except InvalidInput as error:
            show_form_error(form, error)
        else:
            notice = _("Category %(name)s created.", name=_name(created))
            if not request.htmx:
                flash(notice, "success")
                return redirect(url_for("kb.categories_page"))
            response = render(
                "kb/categories.html",
                "kb/_category_form.html",
                status_code=201,
                form=CategoryForm(formdata=None),
                notice=notice,
            )
            return htmx_response(response, trigger=LIST_CHANGED)
    return render(
        "kb/categories.html",
        "kb/_category_form.html",
        status_code=422,
        form=form,
        categories=categories.all_categories(),
    )


@bp.route("/categories/<category>/edit", methods=["GET", "POST"])
@require_category_admin
def edit_category(category: str):
    """Rename a category: both labels and descriptions (its key stays)."""
    found = _category_or_404(category)
    form = CategoryNamesForm(obj=found)
    if form.validate_on_submit():
        try:
            categories.rename_category(current_user, found, form.names)
        except InvalidInput as error:
            show_form_error(form, error)
        else:
            flash(_("Category %(name)s saved.", name=_name(found)), "success")
            return redirect(url_for("kb.categories_page"))
    return render("kb/category_edit.html", status_code=422 if form.is_submitted() else 200, form=form, category=found)


@bp.post("/categories/<category>/move")
@require_category_admin
def move_category(category: str):
    """Move a category one place up or down in the order readers and editors see."""
    found = _category_or_404(category)
    direction = request.form.get("direction", "")
    if direction not in {choice.value for choice in categories.Direction}:
        abort(400, description=_("Choose up or down."))
    categories.move_category(current_user, found, categories.Direction(direction))
    return _back_to_list(_("Category %(name)s moved.", name=_name(found)))


@bp.post("/categories/<category>/archive")
@require_category_admin
def archive_category(category: str):
    """Archive a category (no new articles; its articles stay readable) or bring it back."""
    found = _category_or_404(category)
    categories.set_category_archived(current_user, found, request.form.get("archived") == "1")
    return _back_to_list(_("Category %(name)s saved.", name=_name(found)))
