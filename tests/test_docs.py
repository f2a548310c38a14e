"""The reading path: a short README that links to docs/ pages that exist, and an architecture page
whose module map names every module of the two packages."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_the_readme_is_at_most_200_lines():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 200


def test_the_readme_keeps_the_first_screen_commands():
    text = README.read_text(encoding="utf-8")
    assert ("python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/ser-reparam demo\n"
            in text)
    assert "\n.venv/bin/python -m pytest\n" in text  # .ci/run runs the README's test command
    assert ".venv/bin/python -m pytest" in (ROOT / ".ci" / "run").read_text()


def test_every_relative_link_of_the_readme_and_the_docs_exists():
    readme_docs = [link for link in LINK.findall(README.read_text(encoding="utf-8"))
                   if link.startswith("docs/")]
    assert readme_docs, "the README links to no docs page"
    for page in PAGES:
        for link in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", link):
                continue
            path, _, anchor = link.partition("#")
            target = (page.parent / path).resolve() if path else page
            assert target.exists(), f"{page.relative_to(ROOT)}: {link}"
            if anchor and target.suffix == ".md":
                assert anchor in _anchors(target), f"{page.relative_to(ROOT)}: {link}: no such heading"


def test_every_docs_page_is_linked_from_the_readme_or_an_index():
    linked = set()
    for page in PAGES:
        for link in LINK.findall(page.read_text(encoding="utf-8")):
            linked.add((page.parent / link.partition("#")[0]).resolve())
    for page in PAGES[1:]:
        assert page in linked, f"{page.relative_to(ROOT)} is linked from no page"


def test_the_architecture_map_names_every_module():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for package in ("ser_reparam", "firmware_export"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT / package).as_posix()
            assert f"`{name}`" in text, f"docs/architecture.md: {package}/{name} is not in the module map"
