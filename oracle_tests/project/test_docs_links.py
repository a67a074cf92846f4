"""README.md and docs/: every relative link and image points at a file of this checkout.

A link to a line (`conv.py#L40`, `#L40-L52`) must stay within that file's lines, and a
link to a heading (`adapter.md#exit-codes`, `#data`) must name a heading of that file,
with GitHub's anchor rule. Links with a scheme (https:, mailto:) are not followed.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
HTML_SRC = re.compile(r"<(?:img|a|source)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", re.IGNORECASE)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
LINE_ANCHOR = re.compile(r"^L(\d+)(?:-L(\d+))?$")
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")


def doc_links(doc: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link and image in `doc`, outside code."""
    links, in_fence = [], False
    for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        text = INLINE_CODE.sub("", line)
        found = [m for p in (INLINE_LINK, REFERENCE_DEF, HTML_SRC) for m in p.finditer(text)]
        links += [(number, m.group(1)) for m in sorted(found, key=lambda m: m.start())]
    return links


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"[^\w\- ]", "", text.lower())  # \w keeps letters of every script
    return text.replace(" ", "-")


def heading_anchors(doc: Path) -> set[str]:
    """Every heading anchor of a Markdown file, numbered -1, -2 ... when repeated."""
    anchors, seen, in_fence = set(), {}, False
    for line in doc.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (match := HEADING.match(line)):
            anchor = github_anchor(match.group(1))
            count = seen.get(anchor, 0)
            seen[anchor] = count + 1
            anchors.add(anchor if count == 0 else f"{anchor}-{count}")
    return anchors


def link_problem(doc: Path, target: str, root: Path = ROOT) -> str | None:
    """What is wrong with one relative link of `doc`, or None if it resolves in `root`."""
    path_part, _, fragment = target.partition("#")
    path = (doc.parent / path_part).resolve() if path_part else doc.resolve()
    if not path.is_relative_to(root):
        return f"points outside the repository ({path})"
    name = path.relative_to(root)
    if not path.exists():
        return f"no such file or folder: {name}"
    if not fragment:
        return None
    if (lines := LINE_ANCHOR.match(fragment)) is not None:
        if path.is_dir():
            return f"a line anchor on a folder: {name}"
        count = len(path.read_text(encoding="utf-8").splitlines())
        last = int(lines.group(2) or lines.group(1))
        if not 1 <= int(lines.group(1)) <= last <= count:
            return f"#{fragment} is not within the {count} lines of {name}"
        return None
    if path.suffix == ".md" and fragment not in heading_anchors(path):
        return f"no heading with anchor #{fragment} in {name}"
    return None


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_image_points_at_a_file_that_exists(doc):
    relative = [(n, t) for n, t in doc_links(doc) if not SCHEME.match(t)]
    broken = [
        f"  line {n}: ({t}) {problem}"
        for n, t in relative
        if (problem := link_problem(doc, t)) is not None
    ]
    if broken:
        listing = "\n".join(broken)
        pytest.fail(f"{doc.relative_to(ROOT)} has broken links:\n{listing}", pytrace=False)


def test_the_link_reader_finds_links_images_and_line_anchors(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# A title\n"
        "See [the code](../reference/layers/conv.py#L3) and ![plot](plots/a.png).\n"
        "`[not a link](inline/code.py)`\n"
        "```\n[not a link](fenced/code.py)\n```\n"
        '<img src="plots/b.png" alt="b"> [web](https://example.org) [top](#a-title)\n'
        "[ref]: docs/adapter.md\n",
        encoding="utf-8",
    )
    assert doc_links(doc) == [
        (2, "../reference/layers/conv.py#L3"),
        (2, "plots/a.png"),
        (7, "plots/b.png"),
        (7, "https://example.org"),
        (7, "#a-title"),
        (8, "docs/adapter.md"),
    ]
    assert link_problem(doc, "#a-title", root=tmp_path) is None
    assert "no heading" in link_problem(doc, "#another-title", root=tmp_path)


def test_a_broken_link_or_an_out_of_range_line_anchor_is_reported():
    readme = ROOT / "README.md"
    lines = len((ROOT / "reference" / "loss.py").read_text(encoding="utf-8").splitlines())
    assert link_problem(readme, "reference/loss.py#L1") is None
    assert link_problem(readme, f"reference/loss.py#L1-L{lines}") is None
    assert "not within" in link_problem(readme, f"reference/loss.py#L{lines + 1}")
    assert "not within" in link_problem(readme, "reference/loss.py#L5-L2")
    assert "no such file" in link_problem(readme, "reference/no_such_module.py")
    assert "outside the repository" in link_problem(readme, "../../etc/passwd")
    assert link_problem(readme, "docs/") is None
