"""The variant matrix covers every pair of answers, so it can stay small."""

import itertools

import yaml

from tests.helpers import TEMPLATE_ROOT
from tests.variants import DEFAULTS, VARIANTS, answers_of

# ci only adds files beside the project; it is checked with both values, not in pairs.
PAIRED = ["python_version", "database", "broker", "use_beat", "use_flower", "kubernetes"]
# Answers copier.yml refuses together.
REFUSED = [{"database": "sqlite", "kubernetes": True}]


def choices() -> dict[str, list[object]]:
    questions = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())
    values = {}
    for name in [*PAIRED, "ci"]:
        listed = questions[name].get("choices", [False, True])
        # copier takes a list of values or a mapping of labels to values
        values[name] = list(listed.values() if isinstance(listed, dict) else listed)
    return values


def test_every_pair_of_answers_is_rendered_together() -> None:
    rendered = [answers_of(variant) for variant in VARIANTS]
    values = choices()

    missing = [
        (first, a, second, b)
        for first, second in itertools.combinations(PAIRED, 2)
        for a in values[first]
        for b in values[second]
        if not any(answers[first] == a and answers[second] == b for answers in rendered)
        and {first: a, second: b} not in REFUSED
    ]

    assert missing == []
    assert {answers["ci"] for answers in rendered} == set(values["ci"])


def test_the_defaults_are_the_templates_defaults() -> None:
    questions = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())
    assert {name: questions[name]["default"] for name in DEFAULTS} == DEFAULTS
    assert VARIANTS["default"] == {}
