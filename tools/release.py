"""Release helper for the five nerp distributions.

    python tools/release.py bump <name> <major|minor|patch> [--date YYYY-MM-DD] [--dry-run]
    python tools/release.py check

`bump` moves one distribution to its next version, moves the CHANGELOG's Unreleased entries
under the new version and prints the tag (`nerp-<name>-v<X.Y.Z>`). It refuses when a sibling's
dependency range would exclude the new version, when the changelog has nothing to release, or
when the distribution still carries a deprecation shim due for removal at that version.
`check` verifies that versions, changelogs, inter-package ranges and shims agree (nox
session `release_check`). Only the standard library and `packaging` are needed.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

PACKAGES = ("infra", "training", "hpo", "deploy", "eval")
SHIM_FUNCTIONS = {"deprecated_names", "deprecated_option", "moved_module"}
UNRELEASED = "## [Unreleased]"
RELEASED_HEADING = re.compile(r"^## \[(?P<version>\d+\.\d+\.\d+)\] - (?P<date>\d{4}-\d{2}-\d{2})$")
VERSION_LINE = re.compile(r'^version = "(?P<version>[^"]+)"$', re.MULTILINE)


class ReleaseError(Exception):
    """A release or check that must not go ahead; the message says why."""


@dataclass(frozen=True)
class Distribution:
    name: str  # short name, e.g. "infra"
    root: Path

    @property
    def dist_name(self) -> str:
        return f"nerp-{self.name}"

    @property
    def pyproject(self) -> Path:
        return self.root / "pyproject.toml"

    @property
    def changelog(self) -> Path:
        return self.root / "CHANGELOG.md"

    def metadata(self) -> dict:
        return tomllib.loads(self.pyproject.read_text())["project"]

    def version(self) -> Version:
        raw = self.metadata()["version"]
        try:
            version = Version(raw)
        except InvalidVersion as exc:
            raise ReleaseError(
                f"{self.pyproject}: project.version {raw!r} is not a version"
            ) from exc
        if len(version.release) != 3 or version.pre or version.dev or version.local:
            raise ReleaseError(f"{self.pyproject}: project.version {raw!r} is not X.Y.Z")
        return version

    def requirements(self) -> list[Requirement]:
        meta = self.metadata()
        reqs = [Requirement(r) for r in meta.get("dependencies", [])]
        for extra in meta.get("optional-dependencies", {}).values():
            reqs.extend(Requirement(r) for r in extra)
        return reqs


@dataclass(frozen=True)
class ShimDeclaration:
    file: Path
    line: int
    removed_in: str


def distributions(root: Path) -> list[Distribution]:
    return [Distribution(name, root / "packages" / name) for name in PACKAGES]


def find_shims(dist: Distribution) -> list[ShimDeclaration]:
    """Deprecation shims declared in a distribution's source, found without importing it."""
    found: list[ShimDeclaration] = []
    for path in sorted((dist.root / "src").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name not in SHIM_FUNCTIONS:
                continue
            for kw in node.keywords:
                if kw.arg == "removed_in":
                    if not (isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str)):
                        raise ReleaseError(
                            f"{path}:{node.lineno}: removed_in of {name}() must be a string literal"
                        )
                    found.append(ShimDeclaration(path, node.lineno, kw.value.value))
    return found


def changelog_sections(text: str, path: Path) -> tuple[list[str], list[tuple[Version, str]]]:
    """Unreleased body lines and the released (version, date) headings, newest first."""
    lines = text.splitlines()
    if UNRELEASED not in lines:
        raise ReleaseError(f"{path}: no '{UNRELEASED}' section")
    start = lines.index(UNRELEASED) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    released = []
    for line in lines[end:]:
        if line.startswith("## "):
            match = RELEASED_HEADING.match(line)
            if match is None:
                raise ReleaseError(f"{path}: heading {line!r} is not '## [X.Y.Z] - YYYY-MM-DD'")
            released.append((Version(match["version"]), match["date"]))
    return lines[start:end], released


def next_version(current: Version, part: str) -> Version:
    major, minor, patch = current.release
    if part == "major":
        return Version(f"{major + 1}.0.0")
    if part == "minor":
        return Version(f"{major}.{minor + 1}.0")
    if part == "patch":
        return Version(f"{major}.{minor}.{patch + 1}")
    raise ReleaseError(f"part must be major, minor or patch, not {part!r}")


def range_problems(dists: list[Distribution], name: str, version: Version) -> list[str]:
    """Siblings whose declared range for nerp-<name> would exclude ``version``."""
    problems = []
    for sibling in dists:
        for req in sibling.requirements():
            if req.name == f"nerp-{name}" and req.specifier and version not in req.specifier:
                problems.append(
                    f"{sibling.pyproject}: requires {req} which excludes nerp-{name} {version}; "
                    f"widen that range first"
                )
    return problems


def due_shims(dist: Distribution, version: Version) -> list[str]:
    return [
        f"{shim.file}:{shim.line}: shim due for removal in {shim.removed_in} is still there"
        for shim in find_shims(dist)
        if Version(shim.removed_in) <= version
    ]


def bump(root: Path, name: str, part: str, date: str, dry_run: bool, lock: bool) -> str:
    dists = distributions(root)
    dist = next((d for d in dists if d.name == name), None)
    if dist is None:
        raise ReleaseError(f"unknown distribution {name!r}; one of {', '.join(PACKAGES)}")
    current = dist.version()
    new = next_version(current, part)
    changelog = dist.changelog.read_text()
    unreleased, _ = changelog_sections(changelog, dist.changelog)
    problems = range_problems(dists, name, new) + due_shims(dist, new)
    if not any(line.strip().startswith("-") for line in unreleased):
        problems.append(f"{dist.changelog}: the Unreleased section lists no changes to release")
    if problems:
        raise ReleaseError(f"refusing to release nerp-{name} {new}:\n  " + "\n  ".join(problems))
    tag = f"nerp-{name}-v{new}"
    if dry_run:
        return tag
    text = dist.pyproject.read_text()
    dist.pyproject.write_text(VERSION_LINE.sub(f'version = "{new}"', text, count=1))
    body = "\n".join(unreleased).strip("\n")
    released = f"{UNRELEASED}\n\n## [{new}] - {date}\n\n{body}\n"
    lines = changelog.splitlines()
    start = lines.index(UNRELEASED)
    end = start + 1 + len(unreleased)
    new_changelog = "\n".join(lines[:start]) + "\n" + released + "\n" + "\n".join(lines[end:])
    dist.changelog.write_text(new_changelog.rstrip("\n") + "\n")
    if lock:
        subprocess.run(["uv", "lock"], cwd=root, check=True)
    return tag


def check(root: Path) -> list[str]:
    dists = distributions(root)
    problems: list[str] = []
    for dist in dists:
        try:
            version = dist.version()
            _, released = changelog_sections(dist.changelog.read_text(), dist.changelog)
        except (ReleaseError, FileNotFoundError) as exc:
            problems.append(str(exc))
            continue
        versions = [v for v, _ in released]
        if versions != sorted(versions, reverse=True):
            problems.append(f"{dist.changelog}: released sections are not newest first")
        if versions and versions[0] != version:
            problems.append(
                f"{dist.changelog}: newest release {versions[0]} differs from "
                f"{dist.pyproject} version {version}"
            )
        init = dist.root / "src" / f"nerp_{dist.name}" / "__init__.py"
        if f'version("{dist.dist_name}")' not in init.read_text():
            problems.append(f"{init}: __version__ must be read from the installed metadata")
        problems.extend(range_problems(dists, dist.name, version))
        problems.extend(due_shims(dist, version))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    sub = parser.add_subparsers(dest="command", required=True)
    bump_p = sub.add_parser("bump", help="release one distribution")
    bump_p.add_argument("name", choices=PACKAGES)
    bump_p.add_argument("part", choices=("major", "minor", "patch"))
    bump_p.add_argument("--date", default=dt.date.today().isoformat())
    bump_p.add_argument("--dry-run", action="store_true")
    bump_p.add_argument("--no-lock", action="store_true", help="do not run `uv lock` afterwards")
    sub.add_parser("check", help="versions, changelogs, ranges and shims agree")
    args = parser.parse_args(argv)
    try:
        if args.command == "bump":
            tag = bump(args.root, args.name, args.part, args.date, args.dry_run, not args.no_lock)
            print(f"{'would tag' if args.dry_run else 'tag'}: {tag}")
            if not args.dry_run:
                print(f"next: git commit -am 'Release {tag}' && git tag {tag}")
            return 0
        problems = check(args.root)
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        print(f"release check ok: {', '.join(f'nerp-{p}' for p in PACKAGES)}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
