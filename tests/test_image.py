"""What the backend image holds is enough to run every compose service, as the image's user.

No Docker engine is needed: the Dockerfile's stages are reproduced in a folder standing for the
image's file system. The builder's RUN makes the virtual environment from the files it copies; the
runtime stage's COPY lines (after `.dockerignore`) bring the code, owned as the Dockerfile says;
then each compose service's command and healthcheck run there as the image's USER, with the
image's ENV and compose's environment. A runtime import of a dev dependency, a file the image
lacks or a write that user cannot make fails here, not on the first `just start`. The image is
built once per variant, for compose.yaml's services and for compose.prod.yaml's.
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
from tests.variants import answers_of, variant_params

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


class Image:
    """The backend image's file system, under `root`, built from the project's Dockerfile."""

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
        # Paths made in the image (not the base image's), which live under `root` here.
        self.made = {
            split_options(arguments)[1][-1]
            for instruction, arguments in self.runtime
            if instruction == "COPY" and split_options(arguments)[1][-1].startswith("/")
        }
        self.python = interpreter_copy(python_version, root.parent / "python")
        # What the Dockerfile gives its user (COPY --chown, RUN chown), known once built.
        self.owned: list[Path] = []

    def path(self, image_path: str, workdir: str = "/") -> Path:
        absolute = PurePosixPath(workdir, image_path)
        return self.root / absolute.relative_to("/")

    def map_value(self, value: str) -> str:
        """An ENV value with the image's paths moved under `root`."""
        value = value.replace("$PATH", IMAGE_PATH)
        parts = value.split(os.pathsep)
        return os.pathsep.join(
            str(self.path(part)) if any(part.startswith(made) for made in self.made) else part
            for part in parts
        )

    def env(self, stage: list[tuple[str, str]]) -> dict[str, str]:
        env = {}
        for instruction, arguments in stage:
            if instruction == "ENV":
                for word in shlex.split(arguments):
                    name, _, value = word.partition("=")
                    env[name] = self.map_value(value)
        return env

    def build(self) -> None:
        self.root.mkdir(mode=0o755)
        (self.root / "tmp").mkdir()
        (self.root / "tmp").chmod(0o1777)
        builder, *_ = self.stages.values()
        builder_root = self.root.parent / "builder"
        owned_by_user: list[Path] = []
        self._run_stage(builder, builder_root, owned_by_user, builder=True)
        self._run_stage(self.runtime, self.root, owned_by_user, builder=False)
        self._set_ownership(owned_by_user)
        self.owned = owned_by_user

    def _run_stage(
        self,
        stage: list[tuple[str, str]],
        root: Path,
        owned_by_user: list[Path],
        *,
        builder: bool,
    ) -> None:
        workdir = "/"
        env = self.env(stage)
        for instruction, arguments in stage:
            if instruction == "WORKDIR":
                workdir = str(PurePosixPath(workdir, arguments))
                self._local(workdir, root, builder).mkdir(parents=True, exist_ok=True)
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
                destination = self._local(target, root, builder, workdir)
                for source in sources:
                    copied = self._copy(
                        self.context / source, destination, len(sources) > 1 or target.endswith("/")
                    )
                    if "chown" in options and not builder:
                        owned_by_user.append(copied)
            elif instruction == "RUN" and builder:
                command = re.sub(r"--mount=\S+\s*", "", arguments)
                uv_env = command_env(**env, UV_PYTHON=str(self.python))
                completed = subprocess.run(
                    ["sh", "-c", command],
                    cwd=self._local(workdir, root, builder),
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
                    owned_by_user.append(self.path(chowned))

    def _local(self, image_path: str, root: Path, builder: bool, workdir: str = "/") -> Path:
        """Where an image path of a stage lives here: the builder's own folder, except the paths
        the runtime stage takes from it."""
        absolute = PurePosixPath(workdir, image_path)
        if builder and not any(str(absolute).startswith(made) for made in self.made):
            return root / absolute.relative_to("/")
        return self.path(str(absolute))

    def _copy(self, source: Path, destination: Path, into: bool) -> Path:
        """Docker's COPY: a file into a folder or to a name, a folder's contents into a folder."""
        patterns = dockerignore_patterns(self.context)
        relative = PurePosixPath(source.relative_to(self.context).as_posix())
        assert source.exists(), f"COPY of {relative}, which the project lacks"
        assert not ignored(relative, patterns), (
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
            if path.is_dir() or ignored(inner, patterns):
                continue
            copied = target / path.relative_to(source)
            copied.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copied)
        return target

    def _set_ownership(self, owned_by_user: list[Path]) -> None:
        """Root owns the image but what the Dockerfile gives its user.

        Running as root, the processes switch to the image's uid, which root's files refuse; not
        running as root, they keep this machine's user, and root's files lose their write bits.
        """
        for path in [self.root, *self.root.rglob("*")]:
            if path.is_symlink() or path == self.root / "tmp":
                continue
            if not any(path == owned or owned in path.parents for owned in owned_by_user):
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
            folder.mkdir(parents=True, exist_ok=True)
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
        for owned in self.owned:
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
        image: Image,
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

    def healthcheck(self, service: str) -> list[str]:
        # A ping sent before the worker listens waits out its whole --timeout; polled every
        # second, a short one finds the worker as soon as it is ready.
        return [
            re.sub(r"--timeout \d+", "--timeout 1", part) for part in super().healthcheck(service)
        ]

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


class Images:
    """Each variant's image, built on first use, in a folder the image's user may enter
    (pytest's temporary folders are root's alone)."""

    def __init__(self, projects: Projects) -> None:
        self.projects = projects
        self.folders: list[Path] = []
        self._built: dict[str, Image] = {}

    def __call__(self, variant: str) -> Image:
        if variant not in self._built:
            project = self.projects(variant)
            # `just start` locks first, the build needs uv.lock.
            run(["uv", "lock"], project / "backend")
            folder = Path(tempfile.mkdtemp(prefix="image-"))
            folder.chmod(0o755)
            self.folders.append(folder)
            image = Image(project, answers_of(variant)["python_version"], folder / "root")
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
def images(projects: Projects) -> Iterator[Images]:
    built = Images(projects)
    yield built
    built.remove()


def long_running(answers: dict[str, Any]) -> list[str]:
    """The services check_all starts, in its order, as the variant has them."""
    expected = ["worker", "relay", "api"]
    expected += ["beat"] if answers["use_beat"] else []
    expected += ["flower"] if answers["use_flower"] else []
    return expected


@pytest.mark.parametrize("variant", variant_params())
def test_every_compose_service_runs_from_the_image_as_its_user(
    projects: Projects, variant: str, images: Images
) -> None:
    answers = answers_of(variant)
    image = images(variant)

    started = ImageServices(projects(variant), answers, image).check_all()

    assert started == long_running(answers)


@pytest.mark.parametrize("variant", variant_params())
def test_every_production_backend_service_runs_from_the_read_only_image(
    projects: Projects, variant: str, images: Images
) -> None:
    """compose.prod.yaml's backend services start from the same image folder, as its user.

    Reproduced: each service's command and healthcheck as compose.prod.yaml writes them (uvicorn's
    several workers and proxy headers, the worker's concurrency flag, the beat schedule and the
    relay heartbeat in /tmp), with its environment and the deploy's settings in `.env`; and
    `read_only: true`, as a file system the user cannot write but for what compose.prod.yaml
    mounts (the tmpfs /tmp and the volumes), which starts empty. A flag the image's programs
    refuse, a module it lacks, or a write into the code folder or the home folder fails here.

    Not reproduced: the kernel's read-only mount (the user could still give its own files write
    bits back or touch one the image ships, which no service does), cap_drop, no-new-privileges,
    the resource limits, the proxy and the networks; this machine's PostgreSQL, Redis and RabbitMQ
    stand in for compose's, and, as in the check above, the worker runs one process (a later
    --concurrency) and its ping waits one second, polled.
    """
    answers = answers_of(variant)
    image = images(variant)
    services = ImageServices(projects(variant), answers, image, "compose.prod.yaml")
    assert services.read_only, "compose.prod.yaml's backend services are not read_only"

    started = services.check_all()

    assert started == long_running(answers)
    assert sorted(services.backend_services) == sorted(["migrate", *started]), (
        "compose.prod.yaml builds a backend service this test does not start"
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
