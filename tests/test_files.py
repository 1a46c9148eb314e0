"""The file room: kinds decided by content against the allow-list, size limits, safe names,
thumbnails that refuse pixel floods, the local folder and S3 (moto's server on 127.0.0.1), and
the settings that choose them."""

from __future__ import annotations

import gzip
import io
import resource
import struct
import warnings
import zipfile
import zlib

import pytest
from flask_babel import force_locale
from PIL import Image
from werkzeug.datastructures import FileStorage

from portal import create_app
from portal.core.config import ConfigError, load
from portal.files import storage as files_storage
from portal.files.checks import FILENAME_MAX, FileRefused, check_file, read_limited, safe_filename
from portal.files.storage import FileMissing, LocalStorage, S3Storage, storage
from portal.files.thumbnails import PIXELS_MAX, thumbnail
from tests.conftest import config_for_tests
from tests.fakes.s3 import s3_bucket, s3_endpoint, s3_settings  # noqa: F401 (fixtures)

MB = 1024 * 1024
LIMIT = MB


def make_app(tmp_path, **settings):
    """An app for the room's tests; none of them touches the database."""
    return create_app(config_for_tests(f"sqlite:///{tmp_path / 'unused.sqlite3'}", tmp_path, **settings))


@pytest.fixture
def request_context(tmp_path):
    """Messages are made in a request, here in English."""
    with make_app(tmp_path).test_request_context(), force_locale("en"):
        yield


def image(format_name: str, size=(40, 20), mode="RGB", color="red", **options) -> bytes:
    output = io.BytesIO()
    Image.new(mode, size, color).save(output, format=format_name, **options)
    return output.getvalue()


def png_declaring(width: int, height: int, pixels: bool = False) -> bytes:
    """A small grey PNG whose header declares `width`×`height` pixels; its rows of pixels are
    there (compressed to almost nothing) only when `pixels` is true."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = bytes(1 + width)  # filter byte, then one byte a pixel
    rows = b"".join(compressor.compress(row) for _ in range(height if pixels else 1)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def animated_png() -> bytes:
    """An APNG, which filetype names apart from PNG."""
    output = io.BytesIO()
    frames = [Image.new("RGB", (8, 8), color) for color in ("red", "blue")]
    frames[0].save(output, format="PNG", save_all=True, append_images=frames[1:])
    return output.getvalue()


def zip_archive() -> bytes:
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        archive.writestr("player.log", "buffering at 00:12\n")
    return output.getvalue()


ALLOWED = [
    ("screen.png", image("PNG"), "image/png"),
    ("photo.jpg", image("JPEG"), "image/jpeg"),
    ("anim.gif", image("GIF"), "image/gif"),
    ("anim.png", animated_png(), "image/png"),
    ("shot.webp", image("WEBP"), "image/webp"),
    ("invoice.pdf", b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n", "application/pdf"),
    ("player.log", "2026-12-01 ERROR playback stalled — código 42\n".encode(), "text/plain"),
    ("bom.log", b"\xef\xbb\xbfline one\n", "text/plain"),
    ("windows.log", "registro de errores\r\n".encode("utf-16"), "text/plain"),
    ("quoted.log", b"GET / answered <html><script>x</script> at 12:00\n", "text/plain"),
    ("tags.log", b"<build 42> started\n<api-response> ok\n", "text/plain"),
    ("session.har", b'{"log": {"version": "1.2", "entries": []}}', "application/json"),
    ("data.json", b"[1, 2, 3]", "application/json"),
    ("data.txt", b"[1, 2, 3]", "text/plain"),
    ("broken.json", b'{"log": ', "text/plain"),
    ("logs.zip", zip_archive(), "application/zip"),
    ("logs.gz", gzip.compress(b"line\n"), "application/gzip"),
    ("clip.mp4", struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 512) + b"isomiso2" + bytes(16), "video/mp4"),
    ("clip.mov", struct.pack(">I", 20) + b"ftypqt  " + struct.pack(">I", 512) + b"qt  " + bytes(16), "video/quicktime"),
    ("clip.webm", b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm\x42\x87\x81\x04", "video/webm"),
    ("misnamed.txt", image("PNG"), "image/png"),
]


@pytest.mark.parametrize(("name", "data", "content_type"), ALLOWED, ids=[case[0] for case in ALLOWED])
def test_allowed_kinds_are_decided_by_content(request_context, name, data, content_type):
    checked = check_file(name, data, LIMIT)
    assert checked.content_type == content_type
    assert checked.is_image == content_type.startswith("image/")
    assert (checked.filename, checked.data, checked.size) == (name, data, len(data))
    assert len(checked.sha256) == 64 and "data=" not in repr(checked)


REFUSED = [
    ("setup.png", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(120), "program (EXE)"),
    ("notes.txt", b"\x7fELF\x02\x01\x01" + bytes(120), "program (ELF)"),
    ("icon.png", b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + bytes(60), "program (Mach-O)"),
    ("app.zip.txt", b"dex\n035\x00" + bytes(60), "program (DEX)"),
    ("install.log", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "program (MSI)"),
    ("page.txt", b"\n\t <!DOCTYPE html>\n<html><body>hi</body></html>", "web page (HTML)"),
    ("upper.log", b"<SCRIPT>alert(1)</SCRIPT>", "web page (HTML)"),
    ("para.txt", b"<p\n>text", "web page (HTML)"),
    ("bold.txt", b"<b>hello</b>", "web page (HTML)"),
    ("comment.txt", b"<!-- generated --><div>x</div>", "web page (HTML)"),
    ("bom.txt", b"\xef\xbb\xbf<iframe src=x>", "web page (HTML)"),
    ("wide.txt", "<html><script>alert(1)</script></html>".encode("utf-16"), "web page (HTML)"),
    ("logo.txt", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "SVG or XML document"),
    ("logo.png", b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>", "SVG or XML document"),
    ("doctype.txt", b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x"><svg/>', "SVG or XML document"),
    ("blob.log", bytes(range(256)) * 4, "binary file of an unknown kind"),
    ("latin1.log", "café crème".encode("latin-1"), "binary file of an unknown kind"),
    ("nul.log", b"line one\x00line two\n", "binary file of an unknown kind"),
    ("song.txt", b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(64), "MP3 file"),
]


@pytest.mark.parametrize(("name", "data", "kind"), REFUSED, ids=[case[0] for case in REFUSED])
def test_refused_kinds_say_what_was_found_and_what_is_accepted(request_context, name, data, kind):
    with pytest.raises(FileRefused) as refused:
        check_file(name, data, LIMIT)
    assert refused.value.filename == name
    assert refused.value.message.startswith(f"{name} cannot be attached. Detected: {kind}.")
    assert "PNG image" in refused.value.message and "WebM video" in refused.value.message


def test_empty_and_oversized_files_are_refused_with_the_limit(request_context):
    assert check_file("full.log", b"x" * LIMIT, LIMIT).size == LIMIT
    with pytest.raises(FileRefused, match=r"^big\.log is larger than 1 MB"):
        check_file("big.log", b"x" * (LIMIT + 1), LIMIT)
    with pytest.raises(FileRefused, match=r"^empty\.png is empty\.$"):
        check_file("empty.png", b"", LIMIT)
    with pytest.raises(FileRefused, match="larger than 20 MB"):
        check_file("video.mp4", b"x" * (20 * MB + 1), 20 * MB)


class EndlessStream:
    """An upload that never ends (a 2 GB body, or worse), handing out at most `step` bytes a read."""

    def __init__(self, step: int | None = None):
        self.step = step
        self.handed_out = 0

    def read(self, size: int = -1) -> bytes:
        count = size if self.step is None else min(size, self.step)
        self.handed_out += count
        return b"a" * count


def test_uploads_are_read_only_up_to_the_limit(request_context):
    endless = EndlessStream()
    with pytest.raises(FileRefused, match="larger than 1 MB"):
        read_limited(endless, LIMIT, "huge.log")
    assert endless.handed_out == LIMIT + 1
    trickle = EndlessStream(step=1000)
    with pytest.raises(FileRefused):
        read_limited(trickle, LIMIT, "huge.log")
    assert trickle.handed_out == LIMIT + 1
    upload = FileStorage(stream=io.BytesIO(image("PNG")), filename="C:\\Users\\ana\\Desktop\\shot.png")
    data = read_limited(upload.stream, LIMIT, upload.filename)
    assert check_file(upload.filename, data, LIMIT).filename == "shot.png"
    assert read_limited(io.BytesIO(b"x" * LIMIT), LIMIT, "exact.log") == b"x" * LIMIT


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ana\\shot.png", "shot.png"),
        ("invoice\u202egnp.exe", "invoicegnp.exe"),
        ("zero\u200bwidth\ufeff.log", "zerowidth.log"),
        ("line\nbreak\r\x00\x85.txt", "linebreak.txt"),
        ("  spaced name.pdf  ", "spaced name.pdf"),
        ("e\u0301.txt", "é.txt"),
        ("", "file"),
        ("..", "file"),
        ("dir/", "file"),
        ("\u202e\u200b", "file"),
    ],
)
def test_safe_filenames_keep_only_a_shown_base_name(given, kept):
    assert safe_filename(given) == kept


def test_long_filenames_are_cut_keeping_the_extension():
    kept = safe_filename("a" * 300 + ".log")
    assert len(kept) == FILENAME_MAX and kept.endswith("a.log")
    no_extension = safe_filename("b" * 300)
    assert no_extension == "b" * FILENAME_MAX
    odd_extension = safe_filename("c" * 150 + "." + "d" * 100)
    assert len(odd_extension) == FILENAME_MAX and odd_extension.startswith("c" * 150)


def thumbnail_image(data: bytes) -> Image.Image:
    made = thumbnail(data)
    assert made is not None and made.startswith(b"\x89PNG\r\n\x1a\n")
    return Image.open(io.BytesIO(made))


def test_thumbnails_fit_the_box_and_never_grow():
    assert thumbnail_image(image("PNG", (1000, 500))).size == (320, 160)
    assert thumbnail_image(image("JPEG", (600, 2400))).size == (80, 320)
    assert thumbnail_image(image("WEBP", (40, 20))).size == (40, 20)
    clear = thumbnail_image(image("PNG", (64, 64), mode="RGBA", color=(0, 0, 255, 0)))
    assert clear.mode == "RGBA" and clear.getpixel((0, 0))[3] == 0


def test_thumbnails_are_upright_and_show_an_animation_first_frame():
    photo = Image.new("RGB", (400, 200), "blue")
    photo.paste((255, 0, 0), (0, 0, 200, 200))  # the left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90° clockwise to show
    output = io.BytesIO()
    photo.save(output, format="JPEG", exif=exif.tobytes())
    upright = thumbnail_image(output.getvalue()).convert("RGB")
    assert upright.size == (160, 320)
    top, bottom = upright.getpixel((80, 20)), upright.getpixel((80, 300))
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]

    frames = [Image.new("RGB", (50, 50), color) for color in ("red", "blue")]
    animation = io.BytesIO()
    frames[0].save(animation, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert thumbnail_image(animation.getvalue()).convert("RGB").getpixel((25, 25)) == (255, 0, 0)


def test_pixel_floods_get_no_thumbnail_and_no_memory():
    assert PIXELS_MAX < Image.MAX_IMAGE_PIXELS  # ours refuses first
    just_over = png_declaring(7100, 7100, pixels=True)
    with Image.open(io.BytesIO(just_over)) as flood:  # Pillow itself would decode it
        assert flood.size[0] * flood.size[1] > PIXELS_MAX
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert thumbnail(just_over) is None
        assert thumbnail(png_declaring(10_000, 10_000)) is None  # Pillow's warning range
        assert thumbnail(png_declaring(100_000, 100_000)) is None  # Pillow's error range
    assert not [warning for warning in caught if issubclass(warning.category, Image.DecompressionBombWarning)]
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 64 * 1024  # decoding 100000×100000 would need 30 GB


def test_what_is_not_a_safe_image_gets_no_thumbnail(request_context):
    noise = Image.frombytes("RGB", (300, 300), bytes(range(256)) * 1055)
    output = io.BytesIO()
    noise.save(output, format="PNG")
    assert thumbnail(output.getvalue()[: len(output.getvalue()) // 2]) is None  # truncated
    bitmap = image("BMP")
    with Image.open(io.BytesIO(bitmap)) as opened:  # Pillow reads BMP; the room does not
        assert opened.format == "BMP"
    assert thumbnail(bitmap) is None
    assert thumbnail(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None
    assert thumbnail(b"%PDF-1.4\n%%EOF\n") is None
    assert thumbnail(b"") is None


@pytest.mark.parametrize(
    "key", ["../x", "a/../b", "/abs", "a//b", "a\\b", "", ".", "a/./b", "ü.png", "a b", "k" * 1000]
)
def test_storage_keys_are_safe_relative_paths(tmp_path, key):
    with pytest.raises(ValueError):
        LocalStorage(tmp_path).put(key, b"x", "text/plain")


def test_the_local_folder_keeps_files_whole(tmp_path):
    local = LocalStorage(tmp_path / "attachments")
    local.put("tickets/7/ab12.log", b"first", "text/plain")
    local.put("tickets/7/ab12.log", b"second", "text/plain")
    with local.open("tickets/7/ab12.log") as file:
        assert file.read() == b"second"
    with pytest.raises(TypeError):
        local.put("tickets/7/ab12.log", "not bytes", "text/plain")  # fails while writing
    assert (tmp_path / "attachments/tickets/7/ab12.log").read_bytes() == b"second"
    assert sorted(path.name for path in (tmp_path / "attachments/tickets/7").iterdir()) == ["ab12.log"]
    local.delete("tickets/7/ab12.log")
    local.delete("tickets/7/ab12.log")
    for missing in ("tickets/7/ab12.log", "tickets/7", "tickets/7/ab12.log/deeper"):
        with pytest.raises(FileMissing):
            local.open(missing)


def test_s3_keeps_files_in_its_bucket_under_the_prefix(s3_bucket):
    client, bucket = s3_bucket
    s3 = S3Storage(bucket, "/portal/attachments/", client)
    s3.put("tickets/7/ab12.png", image("PNG"), "image/png")
    stored = client.head_object(Bucket=bucket, Key="portal/attachments/tickets/7/ab12.png")
    assert stored["ContentType"] == "image/png" and stored["ContentLength"] == len(image("PNG"))
    with s3.open("tickets/7/ab12.png") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"
        assert file.read() == image("PNG")[8:]
    s3.delete("tickets/7/ab12.png")
    s3.delete("tickets/7/ab12.png")
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    with pytest.raises(FileMissing):
        s3.open("tickets/7/ab12.png")
    with pytest.raises(ValueError):
        s3.put("../escape", b"x", "text/plain")


def test_the_app_storage_follows_its_settings(tmp_path, s3_endpoint, s3_bucket):
    client, bucket = s3_bucket
    with make_app(tmp_path, **s3_settings(s3_endpoint, bucket, prefix="edye")).app_context():
        kept = storage()
        assert isinstance(kept, S3Storage) and storage() is kept
        kept.put("a/b.log", b"log", "text/plain")
    assert client.get_object(Bucket=bucket, Key="edye/a/b.log")["Body"].read() == b"log"

    local_app = make_app(tmp_path, ATTACHMENTS_DIR=str(tmp_path / "files"))
    with local_app.app_context():
        storage().put("a/b.log", b"log", "text/plain")
        assert isinstance(storage(), LocalStorage)
    assert (tmp_path / "files/a/b.log").read_bytes() == b"log"
    defaults = load(tmp_path / "instance")  # the tests' own settings name another folder
    assert defaults["ATTACHMENTS_DIR"] == str(tmp_path / "instance" / "attachments")
    assert files_storage.storage_from_settings(defaults).root == tmp_path / "instance" / "attachments"


@pytest.fixture
def environment(monkeypatch):
    for name in ("MAX_CONTENT_LENGTH", "ATTACHMENTS_MAX_BYTES", "ATTACHMENTS_MAX_FILES", "ATTACHMENTS_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_attachment_settings_have_defaults_and_size_the_request_limit(tmp_path, environment):
    defaults = load(tmp_path)
    assert (defaults["ATTACHMENTS_MAX_BYTES"], defaults["ATTACHMENTS_MAX_FILES"]) == (20 * MB, 5)
    assert defaults["ATTACHMENTS_BACKEND"] == "local"
    assert defaults["ATTACHMENTS_DIR"] == str(tmp_path / "attachments")
    assert defaults["MAX_CONTENT_LENGTH"] == 5 * 20 * MB + 2 * MB
    environment.setenv("ATTACHMENTS_MAX_BYTES", str(MB))
    environment.setenv("ATTACHMENTS_MAX_FILES", "2")
    assert load(tmp_path)["MAX_CONTENT_LENGTH"] == 4 * MB
    environment.setenv("MAX_CONTENT_LENGTH", "12345")
    assert load(tmp_path)["MAX_CONTENT_LENGTH"] == 12345
    assert load(tmp_path, {"MAX_CONTENT_LENGTH": 999})["MAX_CONTENT_LENGTH"] == 999


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ATTACHMENTS_MAX_BYTES", "0", "ATTACHMENTS_MAX_BYTES"),
        ("ATTACHMENTS_MAX_FILES", "-1", "ATTACHMENTS_MAX_FILES"),
        ("ATTACHMENTS_MAX_BYTES", "20MB", "ATTACHMENTS_MAX_BYTES"),
        ("ATTACHMENTS_BACKEND", "ftp", "ATTACHMENTS_BACKEND"),
    ],
)
def test_bad_attachment_settings_refuse_to_start(tmp_path, environment, variable, value, message):
    environment.setenv(variable, value)
    with pytest.raises(ConfigError, match=message):
        load(tmp_path)


def test_an_s3_backend_needs_a_bucket_and_whole_credentials(tmp_path, environment):
    settings = s3_settings("http://127.0.0.1:9", "bucket")
    assert load(tmp_path, settings)["ATTACHMENTS_BACKEND"] == "s3"
    for changed, message in [
        ({"ATTACHMENTS_S3_BUCKET": ""}, "ATTACHMENTS_S3_BUCKET"),
        ({"ATTACHMENTS_S3_SECRET_ACCESS_KEY": ""}, "ATTACHMENTS_S3_ACCESS_KEY_ID"),
        ({"ATTACHMENTS_S3_PREFIX": "../other"}, "ATTACHMENTS_S3_PREFIX"),
        ({"ATTACHMENTS_S3_ENDPOINT_URL": "minio:9000"}, "ATTACHMENTS_S3_ENDPOINT_URL"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load(tmp_path, {**settings, **changed})
    no_keys = {**settings, "ATTACHMENTS_S3_ACCESS_KEY_ID": "", "ATTACHMENTS_S3_SECRET_ACCESS_KEY": ""}
    assert load(tmp_path, no_keys)["ATTACHMENTS_S3_ACCESS_KEY_ID"] == ""


def test_a_request_over_the_limit_gets_the_translated_413_page(tmp_path):
    app = make_app(tmp_path, ATTACHMENTS_MAX_BYTES=MB, ATTACHMENTS_MAX_FILES=1)
    assert app.config["MAX_CONTENT_LENGTH"] == 3 * MB
    client = app.test_client()
    spanish = client.post("/login", data={"files": (io.BytesIO(b"x" * (4 * MB)), "big.log")})
    assert spanish.status_code == 413 and b"Solicitud demasiado grande" in spanish.data
    client.post("/language", data={"language": "en", "next": "/"})
    english = client.post("/login", data={"files": (io.BytesIO(b"x" * (4 * MB)), "big.log")})
    assert english.status_code == 413 and b"Request too large" in english.data
