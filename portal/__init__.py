"""The EDYE partner support portal: `create_app()` builds one configured application."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.core import config as portal_config
from portal.core import logs, web
from portal.core.config import PROJECT_ROOT
from portal.core.extensions import babel, csrf, db, htmx, limiter, login_manager, migrate


def create_app(overrides: dict | None = None) -> Flask:
    """Build the application: settings, extensions, blueprints and CLI groups."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.from_mapping(portal_config.load(Path(app.instance_path), overrides))
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    _trust_proxies(app)

    logs.init_app(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    from portal.core import i18n

    babel.init_app(
        app,
        locale_selector=i18n.select_locale,
        default_translation_directories=str(Path(__file__).parent / "translations"),
    )
    i18n.init_app(app)
    web.init_app(app)

    from auth import login

    login.init_app(app, login_manager)
    _register_blueprints(app)
    _register_cli(app)
    _register_outbox_handlers()
    _register_template_vocabularies(app)
    return app


def _trust_proxies(app: Flask) -> None:
    """Behind TRUSTED_PROXIES proxies, take the client address and scheme from the X-Forwarded-For
    and X-Forwarded-Proto values those proxies added (the rest of those headers is the client's
    and stays untrusted). X-Forwarded-Host is never trusted: the proxy passes the Host it
    checked, and a forwarded host would let clients choose the host of external links."""
    hops = app.config["TRUSTED_PROXIES"]
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


def _register_outbox_handlers() -> None:
    from portal.reports import delivery
    from portal.tickets import notifications, zendesk_delivery, zendesk_files

    zendesk_delivery.register_handlers()
    zendesk_files.register_handlers()
    notifications.register_handlers()
    delivery.register_handlers()


def _register_template_vocabularies(app: Flask) -> None:
    """Templates compare with the vocabularies' members, never with their strings."""
    from kb.models import ArticleStatus, RevisionState
    from portal.sla.models import TargetKind
    from portal.tickets.models import EventKind

    app.jinja_env.globals.update(
        ArticleStatus=ArticleStatus,
        EventKind=EventKind,
        RevisionState=RevisionState,
        TargetKind=TargetKind,
    )


def _register_blueprints(app: Flask) -> None:
    import admin.mail  # noqa: F401 (adds the e-mails page to the admin blueprint)
    import kb.category_routes  # noqa: F401 (adds the categories screen to the kb blueprint)
    from admin.routes import bp as admin_bp
    from admin.workflow import bp as staff_bp
    from auth.routes import bp as auth_bp
    from kb.routes import bp as kb_bp
    from portal.home import bp as home_bp
    from portal.people.routes import bp as people_bp
    from portal.tickets.routes import bp as tickets_bp
    from portal.tickets.routes import webhook_bp as zendesk_webhook_bp

    for blueprint in (home_bp, auth_bp, people_bp, kb_bp, tickets_bp, zendesk_webhook_bp, admin_bp, staff_bp):
        app.register_blueprint(blueprint)


def _register_cli(app: Flask) -> None:
    from kb.cli import kb_cli
    from portal.cli import demo_cli
    from portal.people.cli import users_cli
    from portal.sla.cli import sla_cli
    from portal.tickets.cli import sla_check_command
    from portal.worker import worker_command

    # `portal.sla` knows no tickets, so the monitor (`flask sla check`) joins its group from here.
    sla_cli.add_command(sla_check_command)
    for group in (users_cli, kb_cli, sla_cli, demo_cli, worker_command):
        app.cli.add_command(group)
