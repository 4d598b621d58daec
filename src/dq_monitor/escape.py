"""NFR-008: outside text made inert for each medium it reaches, in one place per medium.

Source names, subjects, tag values, details and silence comments come from producers and
operators. Each medium reads some characters as markup: Slack mrkdwn turns ``<!channel>`` into a
page for a whole channel and ``<https://x|text>`` into a disguised link; rich reads ``[/bold]`` as
a tag (and fails on one it cannot match); HTML reads ``<`` and ``&``; a mail header ends at a line
break. Every piece of outside text goes through the function of its medium right where it is put
into that medium, and only there; the project's own markup around it stays as it is. JSON bodies
(webhook, PagerDuty, Alertmanager, the Kafka channel) need nothing here: the encoder escapes.
"""

from __future__ import annotations

import html as _html
import unicodedata

from rich.text import Text

#: Unicode categories a header or a terminal must not receive raw: controls (C0, DEL, C1, among
#: them ESC, which starts terminal control sequences) and the line and paragraph separators.
_BREAKING = frozenset({"Cc", "Zl", "Zp"})


def mrkdwn(text: str) -> str:
    """Slack mrkdwn (and any Slack text field): ``&``, ``<``, ``>`` as the entities Slack decodes,
    so no mention, link or channel reference can form from ``text``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def html(text: str) -> str:
    """HTML text and attribute values (quoted with ``"`` or ``'``)."""
    return _html.escape(text, quote=True)


def mail_header(text: str) -> str:
    """A mail header value: line breaks and other control characters become spaces, so the
    value stays one header (the email package refuses a value with a line break)."""
    return "".join(" " if unicodedata.category(c) in _BREAKING else c for c in text)


def terminal(text: str) -> Text:
    """For rich output (tables, ``Console.print``): a ``Text`` is never read as markup, so
    ``[/bold]`` prints as written; control characters other than a newline or tab are shown
    escaped (``\\x1b``) instead of reaching the terminal, where an ESC could rewrite the screen."""
    return Text("".join(
        c if c in "\n\t" or unicodedata.category(c) not in _BREAKING
        else c.encode("unicode_escape").decode("ascii")
        for c in text))
