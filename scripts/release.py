"""Release tags from CHANGELOG.md: a `## vX.Y.Z` heading on main is a release.

Run in a clone with the whole history of main checked out (`.github/workflows/release.yml` does):

    python scripts/release.py tag           # tag each release that has none yet, say what it did
    python scripts/release.py released      # the releases that have a tag, oldest first
    python scripts/release.py notes v0.6.0  # that release's CHANGELOG section

A release is tagged at the first commit of main (its first-parent history) whose CHANGELOG.md has
the version's heading. Older releases whose tag is missing are tagged the same way: copier takes a
project's version from the nearest tag behind its `_commit` in the template's history, so only
with every release tagged does a project made from an old commit get its version, and `copier
update` run the migrations of the releases it crosses. Tags that exist are never moved. When one
commit brought several headings, only the newest is tagged: the others have no commit of their
own, and two tags on one commit leave `git describe` (which writes `_commit`) free to name either.
"""

import argparse
import re
import subprocess
import sys

CHANGELOG = "CHANGELOG.md"
HEADING = re.compile(r"^## (v\d+\.\d+\.\d+)\b", re.MULTILINE)


def git(*args: str) -> str:
    completed = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        sys.exit(f"git {' '.join(args)} failed:\n{completed.stderr}")
    return completed.stdout


def changelog_versions(changelog: str) -> list[str]:
    """The versions the CHANGELOG's headings name, newest (the first heading) first."""
    return HEADING.findall(changelog)


def release_notes(changelog: str, version: str) -> str:
    """The text under the version's heading, up to the next `## ` heading."""
    sections = re.split(r"^(?=## )", changelog, flags=re.MULTILINE)
    for section in sections:
        heading, _, body = section.partition("\n")
        if changelog_versions(heading) == [version]:
            return body.strip() + "\n"
    raise KeyError(f"{CHANGELOG} has no section for {version}")


def first_commits(versions: list[str]) -> dict[str, str]:
    """Each version's first commit in HEAD's first-parent history whose CHANGELOG names it."""
    found: dict[str, str] = {}
    history = git("log", "--first-parent", "--reverse", "--format=%H", "HEAD", "--", CHANGELOG)
    for commit in history.split():
        for version in changelog_versions(git("show", f"{commit}:{CHANGELOG}")):
            found.setdefault(version, commit)
        if all(version in found for version in versions):
            break
    return found


def plan(
    versions: list[str], first_commit: dict[str, str], tags: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The tags to create (version -> commit), and the versions left untagged (version -> the
    version whose tag their commit carries)."""
    claimed = {commit: version for version, commit in tags.items()}
    to_create: dict[str, str] = {}
    left: dict[str, str] = {}
    for version in versions:  # newest first, so the newest heading of a commit claims it
        commit = first_commit.get(version)
        if version in tags or commit is None:
            continue
        if commit in claimed:
            left[version] = claimed[commit]
            continue
        claimed[commit] = version
        to_create[version] = commit
    return to_create, left


def head_changelog() -> str:
    return git("show", f"HEAD:{CHANGELOG}")


def existing_tags() -> dict[str, str]:
    """The `v*` tags and the commits they point to."""
    listing = git(
        "for-each-ref", "--format=%(refname:short) %(*objectname) %(objectname)", "refs/tags/v*"
    )
    # An annotated tag's commit is the peeled name (the second field); a lightweight tag has none.
    return {fields[0]: fields[1] for fields in map(str.split, listing.splitlines())}


def tag() -> None:
    if git("rev-parse", "--is-shallow-repository").strip() == "true":
        sys.exit("A shallow clone: fetch the whole history first (fetch-depth: 0).")
    versions = changelog_versions(head_changelog())
    to_create, left = plan(versions, first_commits(versions), existing_tags())
    for version in reversed(versions):
        if version in to_create:
            git("tag", version, to_create[version])
            subject = git("log", "-1", "--format=%h %s", to_create[version]).strip()
            print(f"tagged {version} at {subject}")
        elif version in left:
            print(f"{version} left untagged: its heading came in the commit of {left[version]}")
    if not to_create:
        print("No tag to create.")


def released() -> None:
    tags = existing_tags()
    for version in reversed(changelog_versions(head_changelog())):
        if version in tags:
            print(version)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("tag", help="tag each CHANGELOG release that has no tag yet")
    commands.add_parser("released", help="the CHANGELOG releases that have a tag, oldest first")
    notes = commands.add_parser("notes", help="a release's CHANGELOG section")
    notes.add_argument("version", help="vX.Y.Z")
    arguments = parser.parse_args()
    if arguments.command == "tag":
        tag()
    elif arguments.command == "released":
        released()
    else:
        try:
            print(release_notes(head_changelog(), arguments.version), end="")
        except KeyError as error:
            sys.exit(error.args[0])


if __name__ == "__main__":
    main()
