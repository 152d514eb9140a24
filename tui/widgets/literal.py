"""Stored text, shown exactly as stored: the one renderer for examples, answers, references and outputs.

    from tui.widgets.literal import literal, stack

    static.update(literal(example.input))                       # a Text, or a Group when it has code
    body = stack([Text("Input", style="bold"), literal(ex.input)])  # pieces one under the other

What :func:`literal` promises:

- no Markdown and no Rich markup: ``count(*) … HAVING count(*) > 5``, ``*stars*``, ``_underscores_``,
  ``[bold]not markup[/]``, ``:smile:`` and ``<b>html</b>`` all show as written (it builds
  :class:`rich.text.Text` objects, which never parse markup or emoji codes);
- whitespace and newlines kept; long lines (and long words) are wrapped at the width, never cut;
- a fenced code block (three or more backticks or tildes, an optional language after them) is shown as
  highlighted code (:class:`rich.syntax.Syntax`, word-wrapped); the language comes from the fence, else
  it is guessed from a few plain signs (SQL, Python, JSON, shell), else the block is plain. The fence
  lines themselves stay visible (dimmed), so every character of the stored text is on screen. A
  backtick fence never closed runs to the end (a cut-off output is still code, as Markdown reads it);
  a tilde line never closed is prose;
- control characters other than tab and newline (an ANSI escape in a model's output, a stray carriage
  return) are shown as their visible Unicode pictures (``␛``) instead of driving the terminal.

The pieces only build Rich renderables: nothing here imports Textual.
"""

from __future__ import annotations

import json
import re
from typing import Iterable

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text

CODE_THEME = "monokai"
FENCE_STYLE = "dim"
GUESS_LIMIT = 20_000  # characters of a block looked at to guess its language

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ALIASES = {"py": "python", "py3": "python", "sh": "bash", "shell": "bash", "zsh": "bash", "console": "bash",
            "js": "javascript", "ts": "typescript", "yml": "yaml", "md": "markdown", "txt": "text",
            "plain": "text", "plaintext": "text", "psql": "postgresql", "c++": "cpp", "golang": "go"}


class LiteralGroup(Group):
    """A :class:`Group` made by :func:`literal` (prose and code blocks); :func:`stack` opens it up."""


def clean(text: str) -> str:
    """The text with line ends made ``\\n`` and other control characters shown as visible pictures."""
    text = text.replace("\r\n", "\n")
    return _CONTROL.sub(lambda m: "␡" if m.group() == "\x7f" else chr(0x2400 + ord(m.group())), text)


def plain(text: str, style: str = "") -> Text:
    """One run of prose, exactly as written (no markup, no emoji codes), folded at the width."""
    return Text(clean(text), style=style, overflow="fold", no_wrap=False)


# ---------------------------------------------------------------- fenced code blocks


def _language(info: str) -> str:
    """'python', '{.sql}', 'py title="x"' -> a Pygments lexer name, or '' when not one."""
    words = info.strip().lstrip("{").lstrip(".").split(maxsplit=1)
    word = words[0].rstrip("}").rstrip(",").lower() if words else ""
    if not word:
        return ""
    word = _ALIASES.get(word, word)
    try:
        from pygments.lexers import get_lexer_by_name
        from pygments.util import ClassNotFound
    except ImportError:  # pragma: no cover - Pygments comes with Rich
        return ""
    try:
        get_lexer_by_name(word)
    except ClassNotFound:
        return ""
    return word


_SQL = re.compile(r"^\s*(select|with|insert|update|delete|create|alter|drop)\b[\s\S]*"
                  r"\b(from|into|table|set|values|as)\b", re.I)
_PY = re.compile(r"^\s*(def |class |import |from \S+ import |async def |@\w+|print\(|if __name__)", re.M)
_SH = re.compile(r"^\s*(\$ |#!/|sudo |pip |apt(-get)? |cd |export |echo )", re.M)


def guess_language(code: str) -> str:
    """A cheap guess from plain signs ('sql', 'python', 'json', 'bash'), '' when none fits."""
    sample = code[:GUESS_LIMIT]
    stripped = sample.strip()
    if not stripped:
        return ""
    if stripped[0] in "{[" and len(code) <= GUESS_LIMIT:
        try:
            json.loads(code)
        except ValueError:
            pass
        else:
            return "json"
    if _SQL.search(sample):
        return "sql"
    if _PY.search(sample):
        return "python"
    if _SH.search(sample):
        return "bash"
    return ""


def code_block(code: str, language: str = "") -> Syntax:
    """Highlighted code, wrapped at the width; plain when no language is given or guessed."""
    lexer = _language(language) if language else ""
    lexer = lexer or guess_language(code) or "text"
    return Syntax(clean(code), lexer, theme=CODE_THEME, word_wrap=True, line_numbers=False,
                  background_color="default", tab_size=4)


def _closes(line: str, fence: str) -> bool:
    body = line.strip()
    return len(body) >= len(fence) and set(body) == {fence[0]}


def _parts(text: str, style: str) -> list[Text | Syntax]:
    """Prose runs and code blocks, one under the other; the fence lines stay in the prose, dimmed."""
    lines = text.split("\n")
    out: list[Text | Syntax] = []
    prose: list[Text] = []
    i = 0

    def flush() -> None:
        if prose:
            out.append(Text("\n", overflow="fold", no_wrap=False).join(prose))
            prose.clear()

    while i < len(lines):
        line = lines[i]
        m = _OPEN.match(line)
        if m is None or (m["fence"][0] == "`" and "`" in m["info"]):
            prose.append(plain(line, style))
            i += 1
            continue
        fence, info = m["fence"], m["info"]
        end = next((j for j in range(i + 1, len(lines)) if _closes(lines[j], fence)), None)
        if end is None and fence[0] == "~":  # a line of tildes never closed is an underline, not code
            prose.append(plain(line, style))
            i += 1
            continue
        code_lines = lines[i + 1:end if end is not None else len(lines)]
        prose.append(plain(line, FENCE_STYLE))
        flush()
        if code_lines:
            out.append(code_block("\n".join(code_lines), info))
        if end is None:  # never closed: the code runs to the end (as Markdown reads it)
            break
        prose.append(plain(lines[end], FENCE_STYLE))
        i = end + 1
    flush()
    return out


# ---------------------------------------------------------------- the public pieces


def literal(text: object, style: str = "") -> Text | LiteralGroup:
    """The text as stored: a :class:`Text` when it has no fenced code block, else a group of prose
    runs and highlighted code blocks. ``style`` styles the prose (not the code)."""
    text = clean("" if text is None else str(text))
    if "```" not in text and "~~~" not in text:
        return plain(text, style)
    parts = _parts(text, style)
    if len(parts) == 1 and isinstance(parts[0], Text):
        return parts[0]
    return LiteralGroup(*parts)


def _blocks(piece: RenderableType) -> list[RenderableType]:
    if isinstance(piece, LiteralGroup):
        return list(piece.renderables)
    if isinstance(piece, str):
        return [plain(piece)]
    return [piece]


def stack(pieces: Iterable[RenderableType], sep: str = "\n\n") -> Text | Group:
    """The pieces one under the other, ``sep`` between them (a blank line by default). Plain text runs
    that meet are joined into one :class:`Text` (so a body without code stays a single Text); ``str``
    pieces are taken literally."""
    blocks: list[RenderableType] = []
    gap = max(0, sep.count("\n") - 1)
    for piece in pieces:
        parts = _blocks(piece)
        if not parts:
            continue
        if blocks:
            if isinstance(blocks[-1], Text) and isinstance(parts[0], Text):
                joined = Text(overflow="fold", no_wrap=False)
                joined.append_text(blocks[-1])
                joined.append(sep)
                joined.append_text(parts[0])
                blocks[-1] = joined
                parts = parts[1:]
            else:
                blocks.extend(Text("") for _ in range(gap))
        blocks.extend(parts)
    if not blocks:
        return Text("")
    if len(blocks) == 1 and isinstance(blocks[0], Text):
        return blocks[0]
    return LiteralGroup(*blocks)


def labelled(label: str, text: object, label_style: str = "bold", style: str = "") -> Text | Group:
    """A label on its own line (the app's words, styled), then the stored text under it, literally."""
    body = "" if text is None else str(text)
    return stack([Text(label, style=label_style), literal(body.strip("\n"), style)], sep="\n")


_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")


def md_escape(text: object) -> str:
    """Stored text made safe to put into the app's own Markdown: every ASCII punctuation character is
    backslash-escaped (CommonMark allows it), so ``count(*)`` or ``_x_`` read as written."""
    return _MD_SPECIAL.sub(r"\\\1", "" if text is None else str(text))


def plain_text(renderable: RenderableType, width: int = 80) -> str:
    """What a renderable shows as plain text at ``width`` (for tests and logs)."""
    from rich.console import Console

    console = Console(width=width, record=True, color_system=None, force_terminal=False, file=_Null())
    console.print(renderable)
    return console.export_text()


class _Null:
    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass
