"""The documentation: every relative link resolves, nothing points outside the repository, and the
performance page's figures are what `make bench` renders from the recorded run."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def doc_files(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", root / "CHANGELOG.md", *sorted((root / "docs").rglob("*.md"))]


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped (letters of any script, digits, `-` and `_`
    kept), spaces to hyphens; a repeated heading gets -1, -2."""
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", text).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = "".join(ch for ch in m.group(1).strip().lower()
                       if ch in "-_ " or unicodedata.category(ch)[0] in "LN").replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """The relative links of a Markdown file that do not resolve: a missing file, a missing #anchor in a
    Markdown file, or a path out of the repository."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    bad = []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if root.resolve() not in (dest, *dest.parents):
            bad.append(f"{target}: outside the repository")
        elif not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text(encoding="utf-8")):
            bad.append(f"{target}: no heading #{anchor} in {dest.relative_to(root.resolve())}")
    return bad


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    bad = broken_links(path)
    assert not bad, f"{path.relative_to(ROOT)}: broken links:\n" + "\n".join(bad)


def test_the_link_check_can_fail(tmp_path):
    """A made-up page with one good link and each kind of broken one."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Title\n\n## Two words, here\n\n## 中英术语表: glossary\n")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/a.md#two-words-here) [ok](docs/a.md#中英术语表-glossary) [web](https://x.org/y)\n"
                    "[gone](docs/b.md) [no anchor](docs/a.md#three) [out](../elsewhere.md)\n"
                    "```\n[in code](nowhere.md)\n```\n")
    bad = broken_links(page, tmp_path)
    assert [b.split(":")[0] for b in bad] == ["docs/b.md", "docs/a.md#three", "../elsewhere.md"], bad


def test_nothing_points_outside_the_repository():
    """The course stands alone: no file names the workspace the course was written in."""
    pattern = re.compile(r"(?<![\w-])(\.\./)?shared/(reference|chapter-standard|seeds)|/work/(shared|helpers)\b")
    files = [p for p in ROOT.rglob("*") if p.is_file() and p.suffix in (".md", ".py", ".cfg", ".toml", ".yml", ".ipynb")
             and not {".venv", ".git", "node_modules"} & set(p.relative_to(ROOT).parts) and p != Path(__file__)]
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in files
            for i, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1) if pattern.search(line)]
    assert not hits, "pointers to files a clone does not have:\n" + "\n".join(hits)


def _bench_run():
    spec = importlib.util.spec_from_file_location("run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("run", module)  # the dataclass Case looks its module up
    spec.loader.exec_module(module)
    return module


def test_performance_page_shows_the_recorded_run():
    """docs/maintainers/performance.md's measured part is what benchmarks/run.py renders from
    benchmarks/performance.json (both written by one `make bench ARGS="--make-test --docs"`)."""
    run = _bench_run()
    text = run.PERFORMANCE_DOC.read_text(encoding="utf-8")
    measured = text.split(run.DOC_START, 1)[1].split(run.DOC_END, 1)[0]
    recorded = json.loads((ROOT / "benchmarks" / "performance.json").read_text())
    assert measured.strip() == run.render_markdown(recorded).strip(), (
        "docs/maintainers/performance.md and benchmarks/performance.json are from different runs")


def test_make_bench_writes_the_performance_page(tmp_path):
    """write_docs replaces only what lies between the markers, and refuses a page without them."""
    run = _bench_run()
    recorded = json.loads((ROOT / "benchmarks" / "performance.json").read_text())
    recorded["machine"]["commit"] = "abc1234"
    page = tmp_path / "performance.md"
    page.write_text(f"# Performance\n\nprose kept\n\n{run.DOC_START}\nold figures\n{run.DOC_END}\n\nafter\n")
    run.write_docs(recorded, page)
    text = page.read_text()
    assert text.startswith("# Performance\n\nprose kept\n\n") and text.endswith(f"{run.DOC_END}\n\nafter\n")
    assert "old figures" not in text and "at commit abc1234" in text
    assert "| `conv2d_forward` |" in text
    page.write_text("# Performance\n\nno markers\n")
    with pytest.raises(SystemExit, match="performance:start"):
        run.write_docs(recorded, page)
