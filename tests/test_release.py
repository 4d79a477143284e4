"""scripts/release.py: the CHANGELOG's versions become tags at the commits that brought them."""

import sys
from pathlib import Path

import copier
import pytest
import yaml

from scripts.release import changelog_versions, release_notes
from tests.helpers import TEMPLATE_ROOT, git, run

CHANGELOG = """# Changelog

Releases are git tags.

## Unreleased
- Work in progress.

## v0.2.0

### Changed
- Second.

### Updating from v0.1.0
- Run `copier update`.

## v0.1.0

First release.
"""


def release(repo: Path, *args: str) -> str:
    return run([sys.executable, str(TEMPLATE_ROOT / "scripts/release.py"), *args], repo).stdout


def commit(repo: Path, message: str, changelog: str | None = None) -> str:
    if changelog is not None:
        (repo / "CHANGELOG.md").write_text(changelog)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def tags(repo: Path) -> dict[str, str]:
    listing = git(repo, "tag", "--list", "--format=%(refname:short) %(objectname)")
    return dict(line.split() for line in listing.splitlines())


def changelog(*versions: str, text: str = "- A change.") -> str:
    return "# Changelog\n" + "".join(f"\n## {version}\n\n{text}\n" for version in versions)


def test_the_newest_heading_is_the_version_to_tag() -> None:
    assert changelog_versions(CHANGELOG) == ["v0.2.0", "v0.1.0"]
    assert changelog_versions("# Changelog\n\n## Unreleased\n- Soon.\n") == []


def test_release_notes_are_the_versions_section() -> None:
    assert release_notes(CHANGELOG, "v0.2.0") == (
        "### Changed\n- Second.\n\n### Updating from v0.1.0\n- Run `copier update`.\n"
    )
    assert release_notes(CHANGELOG, "v0.1.0") == "First release.\n"
    with pytest.raises(KeyError, match=r"no section for v0\.3\.0"):
        release_notes(CHANGELOG, "v0.3.0")


def test_each_version_is_tagged_where_its_heading_reached_main(tmp_path: Path) -> None:
    repo = tmp_path / "template"
    repo.mkdir()
    run(["git", "init", "--quiet", "--initial-branch=main"], repo)
    v0_1 = commit(repo, "v0.1.0", changelog("v0.1.0"))
    (repo / "copier.yml").write_text("_subdirectory: template\n")
    commit(repo, "Not a release")
    v0_2 = commit(repo, "v0.2.0", changelog("v0.2.0", "v0.1.0"))
    commit(repo, "Notes", changelog("v0.2.0", "v0.1.0", text="- Better notes."))
    # One commit that brings two headings is one release: the newest.
    both = commit(repo, "v0.3.0 and v0.3.1", changelog("v0.3.1", "v0.3.0", "v0.2.0", "v0.1.0"))
    # A heading written on a branch reaches main with the merge.
    git(repo, "switch", "--quiet", "--create", "feature")
    commit(repo, "v0.4.0", changelog("v0.4.0", "v0.3.1", "v0.3.0", "v0.2.0", "v0.1.0"))
    git(repo, "switch", "--quiet", "main")
    commit(repo, "Meanwhile on main")
    git(repo, "merge", "--quiet", "--no-ff", "-m", "Merge feature", "feature")
    merge = git(repo, "rev-parse", "HEAD").strip()

    output = release(repo, "tag")

    assert tags(repo) == {"v0.1.0": v0_1, "v0.2.0": v0_2, "v0.3.1": both, "v0.4.0": merge}
    assert f"tagged v0.4.0 at {merge[:7]} Merge feature" in output
    assert "v0.3.0 left untagged: its heading came in the commit of v0.3.1" in output
    assert release(repo, "released").split() == ["v0.1.0", "v0.2.0", "v0.3.1", "v0.4.0"]

    again = release(repo, "tag")

    assert again.splitlines() == [
        "v0.3.0 left untagged: its heading came in the commit of v0.3.1",
        "No tag to create.",
    ]
    assert tags(repo) == {"v0.1.0": v0_1, "v0.2.0": v0_2, "v0.3.1": both, "v0.4.0": merge}


def test_an_existing_tag_stays_where_it_is(tmp_path: Path) -> None:
    repo = tmp_path / "template"
    repo.mkdir()
    run(["git", "init", "--quiet", "--initial-branch=main"], repo)
    commit(repo, "v0.1.0", changelog("v0.1.0"))
    fixed = commit(repo, "A fix before the release was tagged by hand")
    git(repo, "tag", "v0.1.0")
    v0_2 = commit(repo, "v0.2.0", changelog("v0.2.0", "v0.1.0"))

    release(repo, "tag")

    assert tags(repo) == {"v0.1.0": fixed, "v0.2.0": v0_2}


def test_a_tagged_clone_renders_its_newest_release(tmp_path: Path) -> None:
    """After tagging, `copier copy` without --vcs-ref renders the newest CHANGELOG version."""
    clone = tmp_path / "template"
    run(["git", "clone", "--quiet", "--no-tags", str(TEMPLATE_ROOT), str(clone)], tmp_path)
    versions = changelog_versions(git(clone, "show", "HEAD:CHANGELOG.md"))

    output = release(clone, "tag")

    created = tags(clone)
    assert versions[0] in created
    assert f"tagged {versions[0]} at {created[versions[0]][:7]} " in output
    for version, tagged in created.items():
        # The tagged commit is the one whose CHANGELOG first has the heading.
        assert f"## {version}\n" in git(clone, "show", f"{tagged}:CHANGELOG.md")
        # Its parent's CHANGELOG lacks it (or the file does not exist yet).
        before = run(["git", "show", f"{tagged}^:CHANGELOG.md"], clone, check=False).stdout
        assert f"## {version}\n" not in before
    notes = release(clone, "notes", versions[0])
    assert notes.strip()
    assert notes in git(clone, "show", "HEAD:CHANGELOG.md")
    assert "No tag to create." in release(clone, "tag")
    assert tags(clone) == created

    project = tmp_path / "project"
    # No ref, as a user copies: the newest release. pytest-copie always passes one (HEAD).
    copier.run_copy(str(clone), project, defaults=True, quiet=True, unsafe=False)

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == versions[0]
