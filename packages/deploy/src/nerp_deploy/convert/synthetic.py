"""Resume-like texts with known entities, for parity samples and toy models.

No torch here: the parity check needs sample texts for any model, and tests, the slim
nox session and the benchmarks need a small model whose entities follow a learnable
rule (fixed word lists), so int8 noise is measured against decisive predictions rather
than the coin flips of random weights.
"""

from __future__ import annotations

import random

from nerp_infra.documents import Document, Span

__all__ = ["ENTITY_TYPES", "sample_texts", "synthetic_documents"]

ENTITY_TYPES: tuple[str, ...] = ("NAME", "SKILL", "LOCATION", "DESIGNATION")

_FIRST = ("Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivo", "Julia")
_LAST = ("Smith", "Okafor", "Nguyen", "Schmidt", "Rossi", "Kowalski", "Tanaka", "Haddad")
_SKILLS = ("python", "java", "sql", "docker", "kubernetes", "excel", "react", "spark", "golang")
_CITIES = ("Berlin", "Lagos", "Toronto", "Madrid", "Nairobi", "Osaka", "Lima", "Oslo")
_TITLES = (
    "Data Engineer",
    "Software Developer",
    "Project Manager",
    "Accountant",
    "Nurse",
    "Sales Director",
)
_FILLER = (
    "Led a team that shipped a billing platform on time.",
    "Responsible for planning, budgets and weekly reports.",
    "Improved the onboarding process for new staff.",
    "Worked closely with customers to gather requirements.",
    "References are available on request.",
    "Volunteer at the local library on weekends.",
    "Mentored junior colleagues and ran internal workshops.",
)


class _Builder:
    """Appends text pieces and records the spans of the labelled ones."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.spans: list[Span] = []

    def add(self, text: str, label: str | None = None) -> None:
        if label is not None:
            self.spans.append(Span(start=self.length, end=self.length + len(text), label=label))
        self.parts.append(text)
        self.length += len(text)

    def text(self) -> str:
        return "".join(self.parts)


def _section(rng: random.Random, out: _Builder, kind: int) -> None:
    if kind == 0:
        out.add("Name: ")
        out.add(f"{rng.choice(_FIRST)} {rng.choice(_LAST)}", "NAME")
        out.add("\n")
    elif kind == 1:
        out.add("Skills: ")
        for i, skill in enumerate(rng.sample(_SKILLS, rng.randint(2, 4))):
            out.add(", " if i else "")
            out.add(skill, "SKILL")
        out.add("\n")
    elif kind == 2:
        out.add(rng.choice(_TITLES), "DESIGNATION")
        out.add(" based in ")
        out.add(rng.choice(_CITIES), "LOCATION")
        out.add(". ")
        out.add(rng.choice(_FILLER) + "\n")
    else:
        out.add("Contact ")
        out.add(f"{rng.choice(_FIRST)} {rng.choice(_LAST)}", "NAME")
        out.add(" in ")
        out.add(rng.choice(_CITIES), "LOCATION")
        out.add(" about ")
        out.add(rng.choice(_SKILLS), "SKILL")
        out.add(" work. " + rng.choice(_FILLER) + "\n")


def synthetic_documents(
    n: int, *, seed: int = 0, min_sections: int = 2, max_sections: int = 6
) -> list[Document]:
    """``n`` labelled resume-like documents; more sections make longer documents."""
    if n < 0 or min_sections < 1 or max_sections < min_sections:
        raise ValueError(
            f"need n >= 0 and 1 <= min_sections <= max_sections, got n={n}, "
            f"min_sections={min_sections}, max_sections={max_sections}"
        )
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        out = _Builder()
        for _ in range(rng.randint(min_sections, max_sections)):
            _section(rng, out, rng.randrange(4))
        docs.append(Document(id=f"synthetic-{seed}-{i}", text=out.text(), spans=out.spans))
    return docs


def sample_texts(n: int, *, seed: int = 1234) -> list[str]:
    """Parity samples: mostly resume-sized texts, and one long enough to need many windows."""
    if n < 1:
        raise ValueError(f"need at least one sample text, got n={n}")
    short = [doc.text for doc in synthetic_documents(max(n - 1, 0), seed=seed)]
    long = synthetic_documents(1, seed=seed + 1, min_sections=40, max_sections=40)[0].text
    return [*short, long][:n] if n > 1 else [long]
