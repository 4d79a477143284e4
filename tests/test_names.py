"""Project names: the slug copier derives from them, and names that give no usable slug."""

import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from jinja2 import FileSystemLoader
from jinja2.sandbox import SandboxedEnvironment
from pytest_copie.plugin import Copie

from tests.helpers import TEMPLATE_ROOT, copy

# The letters includes/slugify.jinja spells without accents: Latin-1 and Latin Extended-A.
LATIN_LETTERS = [chr(code) for code in range(0xC0, 0x180) if chr(code).isalpha()]
# Letters Unicode does not decompose into a base letter and an accent, and the spelling chosen.
OWN_LETTERS = {
    "æ": "ae", "ð": "d", "ø": "o", "þ": "th", "đ": "d", "ħ": "h", "ĸ": "k", "ł": "l",
    "ŉ": "n", "ŋ": "n", "œ": "oe", "ŧ": "t", "ß": "ss", "\N{LATIN SMALL LETTER DOTLESS I}": "i",
}  # fmt: skip


def slugify(name: str) -> str:
    """The macro copier.yml calls, in a sandbox with copier's filters, as copier renders it."""
    environment = SandboxedEnvironment(
        loader=FileSystemLoader(TEMPLATE_ROOT),
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"],
    )
    template = environment.from_string(
        "{% from 'includes/slugify.jinja' import slugify %}{{ slugify(name) }}"
    )
    return template.render(name=name)


def expected_spelling(letter: str) -> str:
    lower = letter.lower()
    if lower in OWN_LETTERS:
        return OWN_LETTERS[lower]
    return unicodedata.normalize("NFKD", lower).encode("ascii", "ignore").decode()


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("My Service", "my_service"),
        ("Café Zürich", "cafe_zurich"),
        ("Straße & Søn", "strasse_son"),
        ("Łódź Ærø Œuvre", "lodz_aero_oeuvre"),
        ("  Crème--brûlée 2.0  ", "creme_brulee_2_0"),
        ("Cafe\u0301 decomposed", "cafe_decomposed"),  # the accent typed as a combining mark
        ("İstanbul Şişli", "istanbul_sisli"),
        ("Ünïcode's <API> & Co", "unicode_s_api_co"),
    ],
)
def test_slugify_spells_accented_letters_without_accents(name: str, slug: str) -> None:
    assert slugify(name) == slug


@pytest.mark.parametrize("letter", LATIN_LETTERS)
def test_slugify_covers_every_latin_1_and_extended_a_letter(letter: str) -> None:
    assert slugify(f"x{letter}x") == f"x{expected_spelling(letter)}x"


@pytest.mark.parametrize("name", ["日本語", "Москва", "!!!", "   "])
def test_slugify_gives_nothing_for_names_without_latin_letters_or_digits(name: str) -> None:
    assert slugify(name) == ""


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Café Zürich", "cafe_zurich"), ("Straße & Søn", "strasse_son")],
)
def test_copier_derives_the_slug_from_the_name(
    render: Callable[..., Path], name: str, slug: str
) -> None:
    project = render(project_name=name)

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert (answers["project_name"], answers["project_slug"]) == (name, slug)
    assert f'"{slug}",' in (project / "backend/app/worker/celery_app.py").read_text()
    assert f"POSTGRES_DB={slug}\n" in (project / ".env.example").read_text()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("日本語", "No slug can be made from the project name"),
        ("!!!", "No slug can be made from the project name"),
        ("123", 'The slug "123" must be a lowercase Python identifier'),
    ],
)
def test_a_name_without_a_usable_slug_is_refused_with_what_to_do(
    copie: Copie, name: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        copy(copie, project_name=name)
    assert "-d project_slug=" in str(refused.value)
    assert [path for path in copie.test_dir.rglob("*") if path.is_file()] == []


def test_such_a_name_is_kept_when_the_slug_is_given(render: Callable[..., Path]) -> None:
    project = render(project_name="日本語", project_slug="nihongo")

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert (answers["project_name"], answers["project_slug"]) == ("日本語", "nihongo")
    assert (project / "README.md").read_text().startswith("# 日本語\n")
