"""Synthetic resumes with exact entity spans: the default dataset and the test fixtures.

Every document is assembled piece by piece, and each labelled piece records its own
offsets as it is appended, so spans are exact by construction (and asserted). Faker
supplies the localised parts (names, cities, companies, phone numbers, job titles),
drawn once per (locale, seed) into pools because faker's generators cost 10–100 µs a
call; after that a document costs only ``random.Random`` draws, which keeps generation
at thousands of documents a second. Everything is driven by one ``random.Random(seed)``
and a faker instance seeded with the same seed, so a seed gives the same documents on
every run (for a given faker version), and the first ``n`` documents do not depend on
how many are asked for.

Four layouts (classic, Indeed-style, markdown, key/value) vary where and how the same
facts appear, so a small model learns the entities rather than one template.
"""

from __future__ import annotations

import functools
import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from faker import Faker

from nerp_infra.config.data import DEFAULT_LABELS
from nerp_infra.documents import Document, Span
from nerp_training.data.records import DataError
from nerp_training.data.synth import vocab

__all__ = ["LAYOUTS", "SYNTH_LABELS", "synthesize_resumes"]

SYNTH_LABELS: tuple[str, ...] = DEFAULT_LABELS
"""The labels the generator writes: the default label set, so that a default experiment
trains on synthetic data without a label list of its own."""

_POOL_SIZE = 256
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_CURRENT_YEAR = 2024


@dataclass(frozen=True)
class _Pools:
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    cities: tuple[str, ...]
    regions: tuple[str, ...]
    companies: tuple[str, ...]
    phones: tuple[str, ...]
    jobs: tuple[str, ...]
    domains: tuple[str, ...]


def _draw(fake: Faker, names: tuple[str, ...], n: int) -> tuple[str, ...]:
    for name in names:
        try:
            method: Callable[[], str] = getattr(fake, name)
            method()
        except AttributeError:
            continue
        return tuple(method().strip() for _ in range(n))
    raise DataError(f"faker locale {fake.locales[0]!r} has none of {', '.join(names)}")


def _optional(fake: Faker, name: str, n: int) -> tuple[str, ...]:
    try:
        return _draw(fake, (name,), n)
    except DataError:
        return ()


@functools.lru_cache(maxsize=16)
def _pools(locale: str, seed: int) -> _Pools:
    try:
        fake = Faker(locale)
    except AttributeError as exc:
        raise DataError(f"unknown faker locale {locale!r}: {exc}", field="locale") from None
    fake.seed_instance(seed)
    n = _POOL_SIZE
    return _Pools(
        first_names=_draw(fake, ("first_name",), n),
        last_names=_draw(fake, ("last_name",), n),
        cities=_draw(fake, ("city",), n),
        regions=_draw(fake, ("state_abbr", "administrative_unit", "current_country"), n // 4),
        companies=_draw(fake, ("company",), n),
        phones=_draw(fake, ("phone_number",), n),
        jobs=tuple(j for j in _optional(fake, "job", n // 2) if "," not in j),
        domains=_draw(fake, ("free_email_domain",), 16),
    )


class _Builder:
    """Appends text and records the span of every labelled piece."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.spans: list[tuple[int, int, str]] = []

    def add(self, text: str, label: str | None = None) -> None:
        if label is not None and text:
            self.spans.append((self.pos, self.pos + len(text), label))
        self.parts.append(text)
        self.pos += len(text)

    def put(self, *pieces: str | tuple[str, str]) -> None:
        """Append each piece in turn: plain text, or ``(text, label)`` recorded as a span."""
        for piece in pieces:
            if isinstance(piece, str):
                self.add(piece)
            else:
                self.add(*piece)

    def fill(self, template: str, values: dict[str, tuple[str, str | None]]) -> None:
        """Append ``template`` with ``{name}`` replaced by ``values[name] = (text, label)``."""
        last = 0
        for match in _PLACEHOLDER.finditer(template):
            self.add(template[last : match.start()])
            text, label = values[match.group(1)]
            self.add(text, label)
            last = match.end()
        self.add(template[last:])

    def join(self, items: list[tuple[str, str | None]], sep: str) -> None:
        for i, (text, label) in enumerate(items):
            if i:
                self.add(sep)
            self.add(text, label)

    def text(self) -> str:
        return "".join(self.parts)


@dataclass
class _Job:
    title: str
    company: str
    location: str
    start: tuple[int, int]
    end: tuple[int, int] | None
    duration: str
    bullets: list[str]


@dataclass
class _School:
    degree: str
    institution: str
    location: str
    start_year: int
    end_year: int


@dataclass
class _Person:
    name: str
    first: str
    last: str
    email: str | None
    phone: str | None
    location: str
    title: str
    years: str
    summary: str | None
    jobs: list[_Job]
    schools: list[_School]
    skills: list[tuple[str, str | None]]


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


def _duration(months: int, rng: random.Random) -> str:
    if months < 12:
        return f"{max(months, 1)} months" if months != 1 else "1 month"
    years = months // 12
    unit = "year" if years == 1 else rng.choice(("years", "years", "yrs"))
    if years >= 3 and rng.random() < 0.2:
        return f"{years}+ years"
    return f"{years} {unit}"


class _Generator:
    def __init__(self, pools: _Pools, rng: random.Random) -> None:
        self.p = pools
        self.rng = rng

    def location(self) -> str:
        city = self.rng.choice(self.p.cities)
        if self.rng.random() < 0.7:
            return f"{city}, {self.rng.choice(self.p.regions)}"
        return city

    def title(self) -> str:
        rng = self.rng
        if self.p.jobs and rng.random() < 0.3:
            return rng.choice(self.p.jobs)
        role = rng.choice(vocab.ROLES)
        if rng.random() < 0.35:
            return f"{rng.choice(vocab.SENIORITY)} {role}"
        return role

    def email(self, first: str, last: str, company: str) -> str:
        rng = self.rng
        f, last_ascii = _ascii(first) or "user", _ascii(last) or str(rng.randint(10, 999))
        local = rng.choice(
            (f"{f}.{last_ascii}", f"{f[0]}{last_ascii}", f"{f}{last_ascii}{rng.randint(1, 99)}",
             f"{f}_{last_ascii}", f"{last_ascii}.{f}")
        )  # fmt: skip
        if rng.random() < 0.2:
            domain = (_ascii(company)[:12] or "mail") + rng.choice((".com", ".io", ".net"))
        else:
            domain = rng.choice(self.p.domains)
        return f"{local}@{domain}"

    def person(self) -> _Person:
        rng = self.rng
        first, last = rng.choice(self.p.first_names), rng.choice(self.p.last_names)
        name = f"{first} {last}"
        if rng.random() < 0.1:
            name = f"{first} {rng.choice('ABCDEFGHJKLMNPRSTW')}. {last}"
        jobs = []
        year, month = _CURRENT_YEAR, rng.randint(1, 12)
        for i in range(rng.choice((1, 2, 2, 3, 3, 4))):
            length = rng.randint(5, 60)
            end = None if i == 0 and rng.random() < 0.6 else (year, month)
            start_total = year * 12 + month - 1 - length
            start = (start_total // 12, start_total % 12 + 1)
            n_bullets = rng.choice((0, 1, 2, 2, 3))
            jobs.append(
                _Job(
                    title=self.title(),
                    company=rng.choice(self.p.companies),
                    location=self.location(),
                    start=start,
                    end=end,
                    duration=_duration(length, rng),
                    bullets=[rng.choice(vocab.BULLETS) for _ in range(n_bullets)],
                )
            )
            gap = rng.randint(0, 6)
            total = start_total - gap
            year, month = total // 12, total % 12 + 1
        total_months = (_CURRENT_YEAR * 12) - (jobs[-1].start[0] * 12 + jobs[-1].start[1])
        schools = []
        school_end = jobs[-1].start[0] - rng.randint(0, 2)
        for _ in range(rng.choice((1, 1, 2))):
            field = rng.choice(vocab.FIELDS)
            degree = rng.choice(vocab.DEGREES).format(field=field)
            institution = rng.choice(vocab.INSTITUTIONS).format(
                city=rng.choice(self.p.cities), last=rng.choice(self.p.last_names)
            )
            span = rng.choice((2, 3, 4))
            schools.append(
                _School(degree, institution, self.location(), school_end - span, school_end)
            )
            school_end -= span + rng.randint(0, 2)
        skills = rng.sample(vocab.SKILLS, rng.randint(4, 12))
        skill_items: list[tuple[str, str | None]] = []
        for skill in skills:
            years = None
            if rng.random() < 0.5:
                years = rng.choice(
                    ("Less than 1 year", "1 year", f"{rng.randint(2, 9)} years", "10+ years")
                )
            skill_items.append((skill, years))
        title = jobs[0].title
        return _Person(
            name=name,
            first=first,
            last=last,
            email=self.email(first, last, jobs[0].company) if rng.random() < 0.92 else None,
            phone=rng.choice(self.p.phones) if rng.random() < 0.88 else None,
            location=self.location(),
            title=title,
            years=_duration(max(total_months, 12), rng),
            summary=rng.choice(vocab.SUMMARIES) if rng.random() < 0.75 else None,
            jobs=jobs,
            schools=schools,
            skills=skill_items,
        )

    def bullet_values(self) -> dict[str, tuple[str, str | None]]:
        rng = self.rng
        skill, skill2, skill3 = rng.sample(vocab.SKILLS, 3)
        pct = rng.randint(10, 60)
        return {
            "skill": (skill, "SKILL"),
            "skill2": (skill2, "SKILL"),
            "skill3": (skill3, "SKILL"),
            "n": (str(rng.randint(2, 40)), None),
            "small": (str(rng.randint(2, 9)), None),
            "pct": (str(pct), None),
            "pct2": (str(min(pct + rng.randint(10, 35), 99)), None),
        }

    def summary(self, b: _Builder, person: _Person) -> None:
        assert person.summary is not None
        values = self.bullet_values()
        values["title"] = (person.title, "DESIGNATION")
        values["years"] = (person.years, "EXPERIENCE")
        b.fill(person.summary, values)


def _date(ym: tuple[int, int] | None, style: str) -> str:
    if ym is None:
        return {"long": "Present", "short": "Present", "num": "present", "year": "present"}[style]
    year, month = ym
    if style == "long":
        return f"{vocab.MONTHS[month - 1]} {year}"
    if style == "short":
        return f"{vocab.MONTHS[month - 1][:3]} {year}"
    if style == "num":
        return f"{month:02d}/{year}"
    return str(year)


def _layout_classic(g: _Generator, person: _Person) -> _Builder:
    rng, b = g.rng, _Builder()
    b.put((person.name.upper() if rng.random() < 0.3 else person.name, "NAME"), "\n")
    contact: list[tuple[str, str | None]] = []
    if person.email:
        contact.append((person.email, "EMAIL"))
    if person.phone:
        contact.append((person.phone, "PHONE"))
    contact.append((person.location, "LOCATION"))
    b.join(contact, rng.choice((" | ", " • ", " · ", "  ")))
    b.add("\n\n")
    if person.summary:
        b.add(rng.choice(vocab.SUMMARY_HEADERS) + "\n")
        g.summary(b, person)
        b.add("\n\n")
    b.add(rng.choice(vocab.EXPERIENCE_HEADERS) + "\n")
    style = rng.choice(("long", "short", "num"))
    dash = rng.choice((" – ", " - ", " to "))
    for job in person.jobs:
        b.put((job.title, "DESIGNATION"), rng.choice((" — ", ", ", " at ")))
        b.put((job.company, "COMPANY"), ", ", (job.location, "LOCATION"))
        b.put(f"\n{_date(job.start, style)}{dash}{_date(job.end, style)} (")
        b.put((job.duration, "EXPERIENCE"), ")\n")
        for bullet in job.bullets:
            b.add("• ")
            b.fill(bullet, g.bullet_values())
            b.add("\n")
        b.add("\n")
    b.add(rng.choice(vocab.EDUCATION_HEADERS) + "\n")
    for school in person.schools:
        b.put((school.degree, "EDUCATION"), ", ", (school.institution, "EDUCATION"))
        b.add(f", {school.end_year}\n")
    b.add("\n" + rng.choice(vocab.SKILL_HEADERS) + "\n")
    b.join([(skill, "SKILL") for skill, _ in person.skills], rng.choice((", ", " | ", "; ")))
    b.add("\n")
    return b


def _layout_indeed(g: _Generator, person: _Person) -> _Builder:
    b = _Builder()
    b.put((person.name, "NAME"), "\n", (person.title, "DESIGNATION"), " - ")
    b.put((person.jobs[0].company, "COMPANY"), "\n\n", (person.location, "LOCATION"))
    if person.email:
        b.put(" - Email: ", (person.email, "EMAIL"))
    if person.phone:
        b.put(" - Phone: ", (person.phone, "PHONE"))
    b.add("\n\n")
    if person.summary:
        b.add("• ")
        g.summary(b, person)
        b.add("\n\n")
    b.add("WORK EXPERIENCE\n\n")
    for job in person.jobs:
        b.put((job.title, "DESIGNATION"), "\n\n", (job.company, "COMPANY"), " - ")
        b.put((job.location, "LOCATION"))
        b.add(f"\n\n{_date(job.start, 'long')} to {_date(job.end, 'long')}\n\n")
        for bullet in job.bullets:
            b.fill(bullet, g.bullet_values())
            b.add("\n")
        if job.bullets:
            b.add("\n")
    b.add("EDUCATION\n\n")
    for school in person.schools:
        b.put((school.degree, "EDUCATION"), "\n\n", (school.institution, "EDUCATION"), " - ")
        b.put((school.location, "LOCATION"), f"\n\n{school.start_year} to {school.end_year}\n\n")
    b.add("SKILLS\n\n")
    for i, (skill, years) in enumerate(person.skills):
        b.put(", " if i else "", (skill, "SKILL"))
        if years:
            b.put(" (", (years, "EXPERIENCE"), ")")
    b.add("\n")
    return b


def _layout_markdown(g: _Generator, person: _Person) -> _Builder:
    rng, b = g.rng, _Builder()
    b.put("# ", (person.name, "NAME"), "\n**", (person.title, "DESIGNATION"), "** · ")
    b.put((person.location, "LOCATION"), "\n")
    if person.email:
        b.put("Email: ", (person.email, "EMAIL"), "  ")
    if person.phone:
        b.put("Phone: ", (person.phone, "PHONE"))
    b.add("\n\n")
    if person.summary:
        b.add("## " + rng.choice(vocab.SUMMARY_HEADERS).title() + "\n")
        g.summary(b, person)
        b.add("\n\n")
    b.add("## " + rng.choice(vocab.EXPERIENCE_HEADERS).title() + "\n")
    for job in person.jobs:
        b.put("- **", (job.title, "DESIGNATION"), "**, ", (job.company, "COMPANY"), " (")
        b.put((job.location, "LOCATION"), f"), {_date(job.start, 'year')}–")
        b.put(f"{_date(job.end, 'year')} — ", (job.duration, "EXPERIENCE"), "\n")
        for bullet in job.bullets:
            b.add("  - ")
            b.fill(bullet, g.bullet_values())
            b.add("\n")
    b.add("\n## Education\n")
    for school in person.schools:
        b.put("- ", (school.degree, "EDUCATION"), " — ", (school.institution, "EDUCATION"))
        b.add(f" ({school.end_year})\n")
    b.add("\n## Skills\n")
    b.join([(skill, "SKILL") for skill, _ in person.skills], " · ")
    b.add("\n")
    return b


def _layout_keyvalue(g: _Generator, person: _Person) -> _Builder:
    rng, b = g.rng, _Builder()
    b.put("Name: ", (person.name, "NAME"), "\n")
    if person.phone:
        b.put(rng.choice(("Phone: ", "Mobile: ", "Tel: ")), (person.phone, "PHONE"), "\n")
    if person.email:
        b.put(rng.choice(("Email: ", "E-mail: ")), (person.email, "EMAIL"), "\n")
    b.put(rng.choice(("Address: ", "Location: ")), (person.location, "LOCATION"))
    b.put("\nTotal experience: ", (person.years, "EXPERIENCE"), "\nCurrent role: ")
    b.put((person.title, "DESIGNATION"), " at ", (person.jobs[0].company, "COMPANY"))
    b.add("\n\nEmployment\n")
    for job in person.jobs:
        b.put(f"{_date(job.start, 'num')} - {_date(job.end, 'num')}  ")
        b.put((job.title, "DESIGNATION"), ", ", (job.company, "COMPANY"), ", ")
        b.put((job.location, "LOCATION"), " (", (job.duration, "EXPERIENCE"), ")\n")
    b.add("\nQualifications\n")
    for school in person.schools:
        b.put((school.degree, "EDUCATION"), ", ", (school.institution, "EDUCATION"))
        b.add(f", {school.start_year}-{school.end_year}\n")
    b.add("\nKey skills: ")
    b.join([(skill, "SKILL") for skill, _ in person.skills], "; ")
    b.add("\n")
    return b


LAYOUTS: dict[str, Callable[[_Generator, _Person], _Builder]] = {
    "classic": _layout_classic,
    "indeed": _layout_indeed,
    "markdown": _layout_markdown,
    "keyvalue": _layout_keyvalue,
}


def synthesize_resumes(
    n: int, *, seed: int = 13, locale: str = "en_US", id_prefix: str = "synth"
) -> list[Document]:
    """``n`` synthetic resumes with exact NAME, EMAIL, PHONE, LOCATION, DESIGNATION,
    COMPANY, EDUCATION, SKILL and EXPERIENCE spans, the same for the same seed.

    Ids are ``<id_prefix>-<seed>-<index>``, so documents from different seeds can be
    mixed without clashes.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    pools = _pools(locale, seed)
    rng = random.Random(seed)
    generator = _Generator(pools, rng)
    layouts = list(LAYOUTS.values())
    docs = []
    for index in range(n):
        person = generator.person()
        builder = rng.choice(layouts)(generator, person)
        text = builder.text()
        spans = []
        for start, end, label in builder.spans:
            piece = text[start:end]
            # Exact by construction; checked here so a layout bug cannot ship bad spans.
            # The check makes pydantic's per-span validation redundant, hence construct.
            assert piece, f"synth produced an empty {label} span"
            assert piece == piece.strip(), f"synth span {piece!r} is not trimmed"
            spans.append(Span.model_construct(start=start, end=end, label=label))
        docs.append(Document(id=f"{id_prefix}-{seed}-{index:05d}", text=text, spans=spans))
    return docs
