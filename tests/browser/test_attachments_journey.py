"""Files in a real browser: a partner attaches a screenshot to a new ticket, the administrator sees
it in the workspace and answers with a file, and the partner downloads that file."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import select

from portal.core.extensions import db
from portal.tickets.attachments import Attachment
from portal.tickets.models import Ticket
from tests import sample_files
from tests.browser.test_foundation_journey import sign_in
from tests.browser.test_ticket_journey import fill_technical_form

PASSWORD = "correct horse battery"
SOLUTION = b"bitrate=3000\nbuffer_seconds=30\n"


def test_a_screenshot_goes_in_and_a_file_comes_back(page, partner, make_user, matrix, tmp_path):
    admin = make_user("ticket_admin", email="ana@edye.test", name="Ana Admin")
    screenshot = tmp_path / "captura-roku.png"
    screenshot.write_bytes(sample_files.png(640, 360))
    sign_in(page, partner.email, PASSWORD)

    fill_technical_form(
        page, "La app se congela en Roku", "Cada episodio se congela a los diez segundos; adjunto captura."
    )
    page.get_by_label("Adjuntar archivos").set_input_files(str(screenshot))
    page.get_by_role("button", name="Enviar el ticket").click()
    expect(page.get_by_role("heading", name=re.compile(r"Ticket EDY-\d{6} enviado"))).to_be_visible()
    db.session.expire_all()
    ticket = db.session.scalar(select(Ticket))
    assert db.session.scalar(select(Attachment.filename)) == "captura-roku.png"

    page.context.clear_cookies()
    sign_in(page, admin.email, PASSWORD)
    page.get_by_role("link", name="Clasificación").click()
    page.get_by_role("link", name=ticket.reference).click()
    description = page.locator(".workspace .attachments")
    expect(description).to_contain_text("captura-roku.png")
    thumbnail = description.locator("img").first
    expect(thumbnail).to_be_visible()
    assert thumbnail.evaluate("img => img.naturalWidth") > 0  # the server-made thumbnail loaded
    answer = tmp_path / "configuracion.txt"
    answer.write_bytes(SOLUTION)
    action = page.locator("details.action", has=page.get_by_text("Respuesta pública al partner", exact=True))
    action.locator("summary").click()
    action.get_by_label(re.compile("^Mensaje")).fill("Aplica esta configuración y reinicia la app.")
    action.get_by_label("Adjuntar archivos").set_input_files(str(answer))
    action.get_by_role("button", name="Enviar respuesta").click()
    expect(page.locator(".timeline")).to_contain_text("configuracion.txt")

    page.context.clear_cookies()
    sign_in(page, partner.email, PASSWORD)
    page.get_by_role("link", name="Tickets").first.click()
    page.get_by_role("link", name=re.compile(ticket.reference)).first.click()
    expect(page.locator(".timeline")).to_contain_text("Aplica esta configuración")
    expect(page.locator(".ticket-description .attachments img")).to_be_visible()
    page.screenshot(
        path=str(Path(os.environ.get("SCREENSHOT_DIR", tmp_path)) / "ticket-with-attachments.png"), full_page=True
    )
    with page.expect_download() as download_info:
        page.locator(".timeline").get_by_role("link", name=re.compile("configuracion.txt")).click()
    download = download_info.value
    assert download.suggested_filename == "configuracion.txt"
    assert Path(download.path()).read_bytes() == SOLUTION
    # The download left the page where it was.
    expect(page).to_have_url(re.compile(rf"/tickets/{ticket.id}$"))
