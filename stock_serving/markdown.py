"""Untrusted text (headlines, an LLM's words) made safe for a Markdown renderer: the UI shows it
as written, never as a link, an image, an HTML tag or formatting."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

WORD_JOINER = "\u2060"
AUTOLINK = re.compile(r"(?i)(?<=:)(?=/)|(?<=www)(?=\\?\.)|(?=@)")  # inside "://", "www." and before "@"
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~&$])")


def literal(text: str) -> str:
    """Untrusted text (a headline, an LLM's words) for st.markdown: every character that Markdown
    or HTML would interpret is escaped, so it shows as written and never becomes a link, an
    image, a tag or formatting."""
    text = MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")
    # GFM renderers link bare URLs whatever the escapes; an invisible word joiner breaks them
    return AUTOLINK.sub(WORD_JOINER, text)


def safe_url(url: str | None) -> str | None:
    """Only http(s) URLs become links, percent-encoded so they cannot close the Markdown link."""
    if not url or urlsplit(url).scheme.lower() not in ("http", "https"):
        return None
    return quote(url, safe=":/?#@!$&'*+,;=%~-._").replace("(", "%28").replace(")", "%29")


def as_markdown(text: str) -> str:
    """The answer as Markdown: every line's text escaped (headlines and the LLM's summary are
    untrusted), its line breaks kept, and its forecast list ("- ") a list; a line after a list
    item starts a new paragraph (else Markdown would append it to the item)."""
    lines = [f"- {literal(line[2:])}" if line.startswith("- ") else literal(line) for line in text.split("\n")]
    out = [lines[0]] if lines else []
    for previous, line in zip(lines, lines[1:]):
        if line.startswith("- ") or not line or not previous:
            out.append(line)
        elif previous.startswith("- "):
            out.append("\n" + line)
        else:
            out[-1] += "  "  # a hard line break
            out.append(line)
    return "\n".join(out)
