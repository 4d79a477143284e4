"""The backend image, reproduced in a folder (no Docker engine runs here), runs every compose
service as the image's user.

Reproduced, stage by stage from the project's Dockerfile:
- the builder: its `COPY` lines and `RUN uv sync ...`, run with this machine's uv and the
  Python version the project asks for, making the virtual environment where the runtime stage
  takes it from (so the scripts' shebangs hold);
- the runtime stage: its `COPY` lines after `.dockerignore`, `ENV`, `WORKDIR`, the folders its
  `RUN mkdir` makes, `USER` (numeric), and the owners `COPY --chown` and `RUN chown` give: the
  rest belongs to root and cannot be written;
- each container: compose's command, environment and healthcheck for every backend service of
  compose.yaml and of compose.prod.yaml, run as that user in the image's folder, with tmpfs and
  volumes starting empty; with `read_only: true`, the user's own files lose their write bits
  but for those mounts.
A runtime import of a dev dependency, a file the image lacks, a flag its programs refuse or a
write that user cannot make fails here, not on the first `just start`.

Not reproduced: the base image's own files (this machine's stand in), the kernel's read-only
mount, cap_drop, no-new-privileges, resource limits, the proxy and the networks. This machine's
PostgreSQL, Redis and RabbitMQ stand in for compose's; the worker runs one process and its ping
waits one second, polled.
"""

import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from tests.compose_services import ComposeServices
from tests.conftest import Projects
from tests.helpers import command_env, run
from tests.variants import answers_of, backend_variant_params

pytestmark = pytest.mark.usefixtures("services")

# PATH in the python:*-slim images, which the Dockerfile's `$PATH` extends.
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# .dockerignore's wildcards (Go's filepath.Match, and `**` for any number of folders).
WILDCARDS = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}


def dockerfile_stages(text: str) -> dict[str, list[tuple[str, str]]]:
    """Each stage's instructions, by stage name: (INSTRUCTION, arguments)."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            name = arguments.split()[-1] if " as " in arguments.lower() else str(len(stages))
            current = stages.setdefault(name, [])
        else:
            current.append((instruction.upper(), arguments.strip()))
    return stages


def split_options(arguments: str) -> tuple[dict[str, str], list[str]]:
    """`--name=value` options, then the other words."""
    words = shlex.split(arguments)
    options = {}
    while words and words[0].startswith("--"):
        name, _, value = words.pop(0)[2:].partition("=")
        options[name] = value
    return options, words


def dockerignore_patterns(context: Path) -> list[str]:
    ignore = context / ".dockerignore"
    lines = ignore.read_text().splitlines() if ignore.is_file() else []
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(relative: PurePosixPath, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or a folder above it decides."""

    def matches(pattern: str, path: str) -> bool:
        parts = re.split(r"(\*\*/|\*\*|\*|\?)", pattern.strip("/"))
        regex = "".join(WILDCARDS.get(part, re.escape(part)) for part in parts)
        return re.fullmatch(regex, path) is not None

    candidates = [str(relative), *(str(parent) for parent in relative.parents if parent.name)]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if any(matches(pattern.lstrip("!"), path) for path in candidates):
            excluded = not negated
    return excluded


def interpreter_copy(python_version: str, destination: Path) -> Path:
    """The Python uv finds for this version, hard-linked into a folder anyone may read.

    The processes run as the image's user, which cannot enter root's home, where pyenv's and uv's
    interpreters live here; with no network, uv cannot install one elsewhere either.
    """
    found = run(["uv", "python", "find", "--system", python_version], destination.parent)
    executable = Path(found.stdout.strip())
    prefix = Path(
        run(
            [str(executable), "-c", "import sys; print(sys.base_prefix)"], destination.parent
        ).stdout.strip()
    )

    def link(source: str, target: str) -> None:
        try:
            os.link(source, target)
        except OSError:  # another file system, or a file this user may not link
            shutil.copy2(source, target)

    def beside_the_stdlib(folder: str, names: list[str]) -> set[str]:
        # Neither the interpreter's own packages (the venv has its own) nor the stdlib's tests.
        return (
            {"site-packages", "test"} & set(names)
            if Path(folder).parent == prefix / "lib"
            else set()
        )

    shutil.copytree(
        prefix, destination, symlinks=True, copy_function=link, ignore=beside_the_stdlib
    )
    return destination / executable.relative_to(prefix)


class ImageFolder:
    """The backend image's file system under `root`, built by the Dockerfile's stages."""

    def __init__(self, project: Path, python_version: str, root: Path) -> None:
        self.context = project / "backend"
        self.root = root
        self.stages = dockerfile_stages((self.context / "Dockerfile").read_text())
        *_, self.runtime = self.stages.values()
        user = [arguments for instruction, arguments in self.runtime if instruction == "USER"]
        assert user, "the image must not run as root"
        uid, _, gid = user[-1].partition(":")
        # Numeric, so the runtime can tell the user is not root without the image's passwd.
        assert uid.isdigit(), f"USER names no numeric uid: {user[-1]}"
        assert gid.isdigit(), f"USER names no numeric gid: {user[-1]}"
        self.uid, self.gid = int(uid), int(gid)
        # The paths the runtime stage copies into the image (the rest is the base image's, which
        # this machine's stand in for); they live under `root` here.
        self.copied_to = {
            split_options(arguments)[1][-1]
            for instruction, arguments in self.runtime
            if instruction == "COPY" and split_options(arguments)[1][-1].startswith("/")
        }
        self.python = interpreter_copy(python_version, root.parent / "python")
        self.ignore = dockerignore_patterns(self.context)
        # What the Dockerfile gives its user (COPY --chown, RUN chown), known once built.
        self.user_paths: list[Path] = []

    def path(self, image_path: str, workdir: str = "/") -> Path:
        absolute = PurePosixPath(workdir, image_path)
        return self.root / absolute.relative_to("/")

    def image_value(self, value: str) -> str:
        """An ENV value with the image's paths moved under `root`."""
        value = value.replace("$PATH", IMAGE_PATH)
        parts = value.split(os.pathsep)
        return os.pathsep.join(
            str(self.path(part)) if any(part.startswith(made) for made in self.copied_to) else part
            for part in parts
        )

    def env(self, stage: list[tuple[str, str]]) -> dict[str, str]:
        env = {}
        for instruction, arguments in stage:
            if instruction == "ENV":
                for word in shlex.split(arguments):
                    name, _, value = word.partition("=")
                    env[name] = self.image_value(value)
        return env

    def build(self) -> None:
        """The builder stage in a folder of its own, the runtime stage in `root`, then owners."""
        self.root.mkdir(mode=0o755)
        (self.root / "tmp").mkdir()
        (self.root / "tmp").chmod(0o1777)
        builder, *_ = self.stages.values()
        self._run_stage(builder, self.root.parent / "builder", builder=True)
        self._run_stage(self.runtime, self.root, builder=False)
        self._give_owners()

    def _run_stage(self, stage: list[tuple[str, str]], root: Path, *, builder: bool) -> None:
        """WORKDIR, COPY and RUN as the stage has them; the builder's RUN lines are run, the
        runtime stage's only make the folders they name and give the owners they set."""
        workdir = "/"
        env = self.env(stage)
        for instruction, arguments in stage:
            if instruction == "WORKDIR":
                workdir = str(PurePosixPath(workdir, arguments))
                self._stage_path(workdir, root, builder).mkdir(parents=True, exist_ok=True)
            elif instruction == "COPY":
                options, words = split_options(arguments)
                *sources, target = words
                if "from" in options and options["from"] not in self.stages:
                    continue  # a tool from another image (uv): this machine's stands in
                if "from" in options:
                    # The builder's venv is made where the runtime stage copies it, so the
                    # paths inside it (scripts' shebangs) hold: the copy is already in place.
                    assert sources == [target], f"copy from another stage: {arguments}"
                    assert self.path(target).is_dir(), f"the builder made no {target}"
                    continue
                destination = self._stage_path(target, root, builder, workdir)
                for source in sources:
                    copied = self._copy(
                        self.context / source, destination, len(sources) > 1 or target.endswith("/")
                    )
                    if "chown" in options and not builder:
                        self.user_paths.append(copied)
            elif instruction == "RUN" and builder:
                command = re.sub(r"--mount=\S+\s*", "", arguments)
                uv_env = command_env(**env, UV_PYTHON=str(self.python))
                completed = subprocess.run(
                    ["sh", "-c", command],
                    cwd=self._stage_path(workdir, root, builder),
                    env=uv_env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                assert completed.returncode == 0, (
                    f"RUN {command}:\n{completed.stdout}{completed.stderr}"
                )
            elif instruction == "RUN":
                # Folders the runtime stage makes for its user (a volume's mount point).
                for made in re.findall(r"mkdir (?:-p )?(\S+)", arguments):
                    self.path(made).mkdir(parents=True, exist_ok=True)
                for chowned in re.findall(r"chown (?:-R )?\S+ (\S+)", arguments):
                    self.user_paths.append(self.path(chowned))

    def _stage_path(self, image_path: str, root: Path, builder: bool, workdir: str = "/") -> Path:
        """Where an image path of a stage lives here: the builder's own folder, except the paths
        the runtime stage takes from it."""
        absolute = PurePosixPath(workdir, image_path)
        if builder and not any(str(absolute).startswith(made) for made in self.copied_to):
            return root / absolute.relative_to("/")
        return self.path(str(absolute))

    def _copy(self, source: Path, destination: Path, into: bool) -> Path:
        """Docker's COPY: a file into a folder or to a name, a folder's contents into a folder."""
        relative = PurePosixPath(source.relative_to(self.context).as_posix())
        assert source.exists(), f"COPY of {relative}, which the project lacks"
        assert not ignored(relative, self.ignore), (
            f"COPY of {relative}, which .dockerignore leaves out"
        )
        if source.is_file():
            target = destination / source.name if into or destination.is_dir() else destination
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            return target
        target = destination
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.rglob("*")):
            inner = PurePosixPath(path.relative_to(self.context).as_posix())
            if path.is_dir() or ignored(inner, self.ignore):
                continue
            copied = target / path.relative_to(source)
            copied.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copied)
        return target

    def _give_owners(self) -> None:
        """Root owns the image but what the Dockerfile gives its user.

        Running as root, the processes switch to the image's uid, which root's files refuse; not
        running as root, they keep this machine's user, and root's files lose their write bits.
        """
        for path in [self.root, *self.root.rglob("*")]:
            if path.is_symlink() or path == self.root / "tmp":
                continue
            if not any(path == owned or owned in path.parents for owned in self.user_paths):
                path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222)
            elif os.geteuid() == 0:
                os.chown(path, self.uid, self.gid)

    def run_as(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    @contextmanager
    def container(self, mounts: set[str], *, read_only: bool) -> Iterator[None]:
        """A new container of the image: its tmpfs and volumes start empty, and what it writes
        elsewhere goes when it stops. With compose's `read_only`, the user's own files (the only
        ones it may write) lose their write bits but for the mounts, while it runs."""
        mounted = [self.path(mount) for mount in mounts]
        for folder in mounted:
            if not folder.exists():  # a mount point the image lacks: a tmpfs's, anyone's
                folder.mkdir(parents=True)
                folder.chmod(0o1777)
            for entry in folder.iterdir():
                remove(entry)
        image_files = self._user_files(mounted)
        modes = {path: stat.S_IMODE(path.stat().st_mode) for path in image_files}
        if read_only:
            for path, mode in modes.items():
                path.chmod(mode & ~0o222)
        try:
            yield
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
            for path in self._user_files(mounted):
                if path not in modes and os.path.lexists(path):
                    remove(path)

    def _user_files(self, mounted: list[Path]) -> list[Path]:
        """What the image's user owns, but for the mounts (symbolic links have no modes)."""
        paths = []
        for owned in self.user_paths:
            for path in [owned, *(owned.rglob("*") if owned.is_dir() else [])]:
                inside = any(path == mount or mount in path.parents for mount in mounted)
                if not inside and not path.is_symlink():
                    paths.append(path)
        return paths


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


class ImageServices(ComposeServices):
    """The compose services, run from the image's file system as its user."""

    def __init__(
        self,
        project: Path,
        answers: dict[str, Any],
        image: ImageFolder,
        compose_file: str = "compose.yaml",
    ) -> None:
        self.image = image
        super().__init__(project, answers, image.path("/tmp"), compose_file)
        *_, workdir = (a for i, a in image.runtime if i == "WORKDIR")
        self.cwd = image.path(workdir)
        self.run_as = image.run_as()
        # The services compose builds from the image, and what compose mounts into them.
        self.backend_services = [
            name
            for name, service in self.compose["services"].items()
            if service.get("build") == "./backend"
        ]
        self.mounts = {"/tmp"}
        for name in self.backend_services:
            service = self.compose["services"][name]
            self.mounts |= set(service.get("tmpfs") or [])
            self.mounts |= {volume.split(":")[1] for volume in service.get("volumes") or []}
        read_only = {
            bool(self.compose["services"][name].get("read_only")) for name in self.backend_services
        }
        assert len(read_only) == 1, f"{compose_file}: read_only on some backend services only"
        (self.read_only,) = read_only

    def check_all(self) -> list[str]:
        with self.image.container(self.mounts, read_only=self.read_only):
            return super().check_all()

    def _database_url(self) -> str:
        if self.answers["database"] != "sqlite":
            return super()._database_url()
        # Compose's URL, with the volume's mount point moved under the image's root.
        url = str(self.compose["x-backend"]["environment"]["DATABASE_URL"])
        scheme, _, path = url.partition(":///")
        return f"{scheme}:///{self.image.path(path)}"

    def base_environment(self) -> dict[str, str]:
        """The image's ENV, the user's home; nothing of this machine's environment but the
        loader's path to the interpreter's library, which the copy moved."""
        env = self.image.env(self.image.runtime)
        env["HOME"] = str(self.cwd)
        env["LD_LIBRARY_PATH"] = str(self.image.python.parents[1] / "lib")
        return env


class ImageFolders:
    """Each variant's image folder, built on first use, where the image's user may enter
    (pytest's temporary folders are root's alone)."""

    def __init__(self, projects: Projects) -> None:
        self.projects = projects
        self.folders: list[Path] = []
        self._built: dict[str, ImageFolder] = {}

    def __call__(self, variant: str) -> ImageFolder:
        if variant not in self._built:
            project = self.projects(variant)
            # `just start` locks first, the build needs uv.lock.
            run(["uv", "lock"], project / "backend")
            folder = Path(tempfile.mkdtemp(prefix="image-"))
            folder.chmod(0o755)
            self.folders.append(folder)
            image = ImageFolder(project, answers_of(variant)["python_version"], folder / "root")
            image.build()
            self._built[variant] = image
        return self._built[variant]

    def remove(self) -> None:
        for folder in self.folders:
            for path in folder.rglob("*"):
                if path.is_dir() and not path.is_symlink():
                    path.chmod(0o755)  # folders without write bits cannot be emptied
            shutil.rmtree(folder)


@pytest.fixture(scope="module")
def images(projects: Projects) -> Iterator[ImageFolders]:
    built = ImageFolders(projects)
    yield built
    built.remove()


def long_running_services(answers: dict[str, Any]) -> list[str]:
    """The services check_all starts, in its order, as the variant has them."""
    expected = ["worker", "relay", "api"]
    expected += ["beat"] if answers["use_beat"] else []
    expected += ["flower"] if answers["use_flower"] else []
    return expected


@pytest.mark.parametrize("compose_file", ["compose.yaml", "compose.prod.yaml"])
@pytest.mark.parametrize("variant", backend_variant_params())
def test_every_backend_service_runs_from_the_image_as_its_user(
    projects: Projects, variant: str, compose_file: str, images: ImageFolders
) -> None:
    """compose.prod.yaml's with its several uvicorn workers and proxy headers, the worker's
    concurrency flag, the beat schedule and the relay's heartbeat in /tmp, the deploy's settings,
    and a file system its user cannot write but for what compose.prod.yaml mounts."""
    answers = answers_of(variant)
    services = ImageServices(projects(variant), answers, images(variant), compose_file)
    assert services.read_only == (compose_file == "compose.prod.yaml")

    started = services.check_all()

    assert started == long_running_services(answers)
    assert sorted(services.backend_services) == sorted(["migrate", *started]), (
        f"{compose_file} builds a backend service this test does not start"
    )


@pytest.mark.xdist_group("default")
def test_a_worker_command_that_no_longer_matches_the_code_is_caught(
    projects: Projects, tmp_path: Path
) -> None:
    """The check above can fail: the worker pointed at a module that does not exist."""
    services = ComposeServices(projects("default"), answers_of("default"), tmp_path)
    worker = services.compose["services"]["worker"]
    worker["command"] = worker["command"].replace("app.worker.celery_app", "app.worker.celery")

    with pytest.raises(AssertionError, match="worker exited"):
        services.check_all()
