"""Carry a user's edits across a file the template moved (run by copier as a migration).

`copier update` renders the file at its new path and drops the old one, and with it the user's
edits. Run in the "before" stage, this keeps the user's copy of the old file and the old template's
copy (the merge base) inside .git, where nothing tracks them; run in the "after" stage, it merges
the user's edits into the file at its new path (`git merge-file`), leaving conflict markers only
where the user and the template changed the same lines, labelled like copier's own ("before
updating" is the user's side), and registers a conflicted file with git so `git grep` finds it.

    python moved_file.py before|after TEMPLATE_CLONE OLD_REF OLD_PATH NEW_PATH

Paths are relative to the project; the old template's copy is read from `template/OLD_PATH` at
OLD_REF, so this suits files that are not Jinja templates.
"""

import shutil
import subprocess
import sys
from pathlib import Path


def stash_paths(new_path: str) -> tuple[Path, Path]:
    stash = Path(".git") / "copier-moved" / new_path
    return stash, stash.with_name(stash.name + ".base")


def remove_empty_folders(folder: Path, stop: Path) -> None:
    while folder != stop and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def before(template: str, old_ref: str, old_path: str, new_path: str) -> None:
    if not Path(old_path).is_file():
        return
    users, base = stash_paths(new_path)
    users.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(old_path, users)
    old_copy = subprocess.run(
        ["git", "-C", template, "show", f"{old_ref}:template/{old_path}"],
        capture_output=True,
        check=False,
    )
    # Without the old template's copy, merge against nothing: every line becomes a conflict,
    # which still keeps every edit.
    base.write_bytes(old_copy.stdout if old_copy.returncode == 0 else b"")


def after(old_path: str, new_path: str) -> None:
    users, base = stash_paths(new_path)
    if not users.is_file():
        return
    target = Path(new_path)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(base, target)
    labels = ["-L", "before updating", "-L", "old template", "-L", "after updating"]
    # The result lands in the user's copy (the first file), then replaces the template's.
    merge = subprocess.run(["git", "merge-file", *labels, str(users), str(base), str(target)])
    shutil.copyfile(users, target)
    users.unlink()
    base.unlink()
    remove_empty_folders(users.parent, stop=Path(".git"))
    Path(old_path).unlink(missing_ok=True)
    if merge.returncode != 0:
        subprocess.run(["git", "add", "--intent-to-add", "--", new_path], check=False)
        print(f"{new_path}: your edits of {old_path} conflict with the template's; see the markers")


def main(stage: str, template: str, old_ref: str, old_path: str, new_path: str) -> None:
    if stage == "before":
        before(template, old_ref, old_path, new_path)
    else:
        after(old_path, new_path)


if __name__ == "__main__":
    main(*sys.argv[1:])
