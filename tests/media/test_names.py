"""Names a sender chose, served back safely and with the extension of what the bytes are."""

from __future__ import annotations

import pytest

from connector.media.names import safe_filename


@pytest.mark.parametrize(
    ("name", "content_type", "safe"),
    [
        ("IMG_0042.jpg", "image/jpeg", "IMG_0042.jpg"),
        ("photo.JPEG", "image/jpeg", "photo.JPEG"),
        ("holiday.exe", "image/png", "holiday.png"),
        ("../../etc/passwd", "image/png", "passwd.png"),
        ("C:\\Users\\me\\scan.pdf", "application/pdf", "scan.pdf"),
        ('quote"; filename="evil.html', "application/pdf", "quote_ filename=_evil.pdf"),
        ("line\r\nbreak.gif", "image/gif", "line_break.gif"),
        ("", "image/gif", "media.gif"),
        ("...", "image/png", "media.png"),
        ("Ünïcødé pic.png", "image/png", "Ünïcødé pic.png"),
        ("notes.bin", None, "notes.bin"),
    ],
)
def test_a_served_name_is_a_plain_file_name(name: str, content_type: str | None, safe: str) -> None:
    assert safe_filename(name, content_type) == safe


def test_a_very_long_name_is_shortened_but_keeps_its_extension() -> None:
    name = safe_filename("x" * 500 + ".png", "image/png")

    assert len(name) <= 120 and name.endswith(".png")
