"""Policy texts in Markdown: safe HTML for pages, readable plain text for email (privacy/markdown.py)."""

from __future__ import annotations

from privacy import markdown

SOURCE = """# Our privacy policy

We keep **what we need** and no more. See [the ICO](https://ico.org.uk) or <https://example.com>.

## What we keep
- Your name
- Your address,
  for invoices
- Logs:
  1. web
  2. mail

> Quoted

| Record | Kept |
|---|--:|
| Invoices | 6 years |
| Logs | 90 days |
"""


def test_plain_text_reads_like_the_source_without_its_markers():
    assert markdown.to_text(SOURCE) == (
        "Our privacy policy\n"
        "==================\n\n"
        "We keep what we need and no more. See the ICO (https://ico.org.uk) or https://example.com.\n\n"
        "What we keep\n"
        "------------\n\n"
        "- Your name\n"
        "- Your address,\n"
        "  for invoices\n"
        "- Logs:\n"
        "  1. web\n"
        "  2. mail\n\n"
        "> Quoted\n\n"
        "Record | Kept\n"
        "Invoices | 6 years\n"
        "Logs | 90 days"
    )


def test_html_keeps_structure_moves_headings_down_and_drops_attributes():
    html = markdown.to_html(SOURCE)
    assert html.startswith("<h2>Our privacy policy</h2>")  # the page's title is the only <h1>
    assert "<h3>What we keep</h3>" in html and "<ol>\n<li>web</li>" in html
    assert "<blockquote>" in html and "<th>Kept</th>" in html and "style" not in html


def test_html_in_the_source_is_text_and_dangerous_links_are_not_links():
    html = markdown.to_html(
        '<script>alert(1)</script> <a href="https://evil.example" onclick="x()">hi</a> '
        "[a](javascript:alert(1)) [b](data:text/html;base64,PHNjcmlwdD4=) ![c](https://tracker.example/p.png)"
    )
    assert "<script" not in html and "&lt;script&gt;" in html
    assert '&lt;a href="https://evil.example" onclick="x()"&gt;hi&lt;/a&gt;' in html  # shown, not a link
    assert "<a " not in html.replace('<a href="https://tracker.example/p.png" rel="noopener noreferrer">c</a>', "")
    assert "[a](javascript:alert(1))" in html and "[b](data:" in html  # not made links
    assert "<img" not in html  # an image is a link to it, never loaded


def test_empty_text_renders_as_nothing():
    assert markdown.to_html("") == "" and markdown.to_text("") == ""
