"""Knowledge base pages."""
from flask import Blueprint

from portal.web import render

bp = Blueprint("kb", __name__, url_prefix="/kb")


@bp.get("/")
def index():
    """The knowledge base home page (articles arrive with the knowledge base issue)."""
    return render("kb/index.html")
