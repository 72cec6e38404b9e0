"""Check what the package index shows of each built distribution: the LICENSE, the project URLs, and a long
description (the package README) whose links work there.

Run by `nox -s wheels` on every wheel and sdist it builds:
    python scripts/check_release_metadata.py dist/fuse_core-0.1.0-py3-none-any.whl dist/fuse_core-0.1.0.tar.gz ...

On the index a README is shown away from the repository, so a relative link (``../../docs/migration.md``) leads
nowhere: every link must be absolute, ``REPOSITORY_URL/blob/main/<path>`` for a file of the repository.

>>> relative_links("see [the guide](../../docs/guide.md), [fuse](https://example.org) and [below](#api)")
['../../docs/guide.md']
"""

from __future__ import annotations

import email.parser
import re
import sys
import tarfile
import zipfile
from email.message import Message
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY_URL = "https://github.com/fuse-ml/fuse"
PROJECT_URLS = ("Homepage", "Source", "Issues", "Changelog", "Documentation")

# [text](target), ![alt](target), [label]: target, and HTML href="..." / src="..."
_LINK_TARGETS = re.compile(
    r"\]\(\s*<?([^)\s>]+)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
    r"|^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)"
    r"|(?:href|src)\s*=\s*[\"']([^\"']+)[\"']",
    re.MULTILINE,
)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_ABSOLUTE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.\-]*:|#)")  # a scheme (https:, mailto:) or an in-page anchor


def relative_links(markdown: str) -> list[str]:
    """Every link target of ``markdown`` (outside code blocks) that is neither a URL nor an in-page anchor."""
    text = _FENCE.sub("", markdown)
    targets = [next(group for group in match.groups() if group) for match in _LINK_TARGETS.finditer(text)]
    return [target for target in targets if not _ABSOLUTE.match(target)]


def repository_paths(markdown: str) -> list[str]:
    """The repository files that ``markdown`` links to as ``REPOSITORY_URL/blob/main/<path>`` (or ``tree``)."""
    pattern = re.compile(re.escape(REPOSITORY_URL) + r"/(?:blob|tree)/main/([^)\s#\"'>]+)")
    return pattern.findall(markdown)


def _metadata(text: str) -> Message:
    return email.parser.Parser().parsestr(text)


def metadata_problems(metadata: Message, license_files: dict[str, bytes], license_text: bytes) -> list[str]:
    """What is missing from one distribution's core metadata (``METADATA`` or ``PKG-INFO``) and license files."""
    problems = []
    declared = metadata.get_all("License-File") or []
    if "LICENSE" not in declared:
        problems.append(f"no `License-File: LICENSE` in the metadata (declared: {declared})")
    if license_files.get("LICENSE") != license_text:
        problems.append("does not carry the repository's LICENSE file byte for byte")
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL") or [])
    missing = [label for label in PROJECT_URLS if label not in urls]
    if missing:
        problems.append(f"lacks the project URLs {missing} (has {sorted(urls)})")
    foreign = {label: url for label, url in urls.items() if not url.startswith(REPOSITORY_URL)}
    if foreign:
        problems.append(f"project URLs outside {REPOSITORY_URL}: {foreign}")
    description = metadata.get_payload()
    if not isinstance(description, str) or not description.strip():
        problems.append("has no long description (readme)")
    else:
        links = relative_links(description)
        if links:
            problems.append(f"its long description has relative links, dead on the package index: {links}")
        missing_files = [path for path in repository_paths(description) if not (ROOT / path).exists()]
        if missing_files:
            problems.append(f"its long description links to files the repository lacks: {missing_files}")
    return problems


def distribution_problems(path: Path, license_text: bytes) -> list[str]:
    """What is wrong with the metadata of a built wheel (``.whl``) or sdist (``.tar.gz``)."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
            metadata = _metadata(archive.read(metadata_name).decode())
            licenses = metadata_name.rsplit("/", 1)[0] + "/licenses/"
            license_files = {n.removeprefix(licenses): archive.read(n) for n in names if n.startswith(licenses)}
    elif path.name.endswith(".tar.gz"):
        with tarfile.open(path) as archive:
            top = archive.getnames()[0].split("/")[0]
            pkg_info = archive.extractfile(f"{top}/PKG-INFO")
            license_member = archive.extractfile(f"{top}/LICENSE") if f"{top}/LICENSE" in archive.getnames() else None
            assert pkg_info is not None
            metadata = _metadata(pkg_info.read().decode())
            license_files = {"LICENSE": license_member.read()} if license_member else {}
    else:
        return [f"{path.name} is neither a wheel nor an sdist"]
    return metadata_problems(metadata, license_files, license_text)


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    license_text = (ROOT / "LICENSE").read_bytes()
    failed = False
    for path in map(Path, paths):
        problems = distribution_problems(path, license_text)
        failed = failed or bool(problems)
        print(f"{path.name}: " + ("; ".join(problems) if problems else "LICENSE, project URLs, absolute links: ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
