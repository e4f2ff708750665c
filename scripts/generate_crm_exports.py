#!/usr/bin/env python3
"""Deterministic generator of CRM exports to import as-is (``seeds/sample/exports/``).

Usage::

    python scripts/generate_crm_exports.py [--out seeds/sample/exports] [--seed 2026]

Importable too: ``generate(out_dir, seed=2026)`` writes every file and returns each data
file's expected accounting (what reading and normalizing it for one organization gives).

One file per export format, with the vendor's header row and the vendor's value vocabulary:

* ``hubspot_contacts.csv``             HubSpot contacts (Phone Number + Mobile Phone Number,
                                        Lifecycle Stage + Lead Status, Contact owner names)
* ``salesforce_leads_report.csv``      Salesforce leads report (labels, every field quoted)
* ``salesforce_leads_dataloader.csv``  Salesforce Data Loader extract (API names, upper-case)
* ``pipedrive_people.csv``             Pipedrive people: exactly Name, Organization, Email,
                                        Phone, Label, Owner (Organization is the employer)
* ``zoho_leads.csv``                   Zoho CRM leads
* ``README.md``                        what each file shows and its expected accounting

The phone numbers are fictional (555-0100 to 555-0199 in real US area codes, which
`phonenumbers` accepts as valid), each person has their own, and no number is shared between
files, so the five files can be imported into one organization without merging each other.

Everything is drawn from one ``random.Random(seed)`` in a fixed order (no clock, no set
iteration), so two runs with the same seed give byte-identical files. Expected counts are
known by construction (each row is planned as a kind: phone only, mobile only, ...), not by
running leadflow: tests/unit/test_exports.py checks leadflow against them.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import phonenumbers

DEFAULT_SEED = 2026
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "seeds" / "sample" / "exports"
BASE_TIME = datetime(2026, 3, 2, 8, 0, 0)  # "created" dates count back from here: no clock

# Real US area codes; with lines 555-0100..0199 they give 2000 distinct fictional numbers.
AREA_CODES = (
    201,
    206,
    212,
    213,
    305,
    312,
    404,
    415,
    469,
    503,
    512,
    602,
    617,
    702,
    713,
    718,
    720,
    801,
    917,
    919,
)

FIRST_NAMES = (
    "James",
    "Maria",
    "Robert",
    "Patricia",
    "Michael",
    "Jennifer",
    "David",
    "Linda",
    "Daniel",
    "Aisha",
    "Carlos",
    "Mei",
    "Olivia",
    "Noah",
    "Sofia",
    "Liam",
    "Fatima",
    "Ethan",
    "Chloe",
    "Mateo",
    "Grace",
    "Hiroshi",
    "Zoë",
    "José",
    "Siobhán",
    "Kwame",
    "Priya",
    "Lucas",
    "Ava",
    "Omar",
    "Hannah",
    "Diego",
    "Nia",
    "Samuel",
    "Elena",
    "Tyrone",
    "Ingrid",
    "Raj",
    "Leila",
)
LAST_NAMES = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Nguyen",
    "Okafor",
    "O'Brien",
    "Kowalski",
    "Chen",
    "Patel",
    "Kim",
    "Müller",
    "Van der Berg",
    "Haddad",
    "Santos",
    "Thompson",
    "White",
    "Lopez",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Young",
    "Allen",
    "McDonald",
    "Nakamura",
    "Ivanova",
    "Rossi",
)
COMPANIES = (
    "Mercy General Hospital",
    "Blue Ridge Trucking",
    "St. Luke's Medical Center",
    "Summit Home Health",
    "Lakeside Logistics LLC",
    "Fabrikam, Inc.",
    "Contoso Ltd",
    "Northwind Traders",
    "Riverbend Senior Living",
    "Atlas Freight Lines",
    "Harbor Dental Group",
    "Pinecrest Academy",
    "Metro Transit Authority",
    "Keystone Warehousing",
    "Bright Smiles Pediatrics",
    "Evergreen Nursing & Rehab",
    'The "Corner" Café',
    "Granite State Movers",
)
OWNERS = ("Dana Whitfield", "Marcus Lee", "Priya Raman", "Tom O'Neill", "Grace Park")
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")


# ---------------------------------------------------------------------------------------
# Phones
# ---------------------------------------------------------------------------------------


def _is_valid_us(text: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(text, "US"))
    except phonenumbers.NumberParseException:
        return False


class NumberPool:
    """Hands out distinct fictional US numbers as (area code, line) pairs, in a seeded order."""

    def __init__(self, rng: random.Random) -> None:
        pairs = [(area, line) for area in AREA_CODES for line in range(100, 200)]
        rng.shuffle(pairs)
        self._pairs = pairs

    def take(self) -> tuple[int, int]:
        area, line = self._pairs.pop()
        if not _is_valid_us(f"+1{area}555{line:04d}"):  # the premise of every count below
            raise AssertionError(f"+1 {area} 555 {line:04d} is not a valid US number")
        return area, line


# Formats the vendors' users type (or the vendor writes). Every one is valid for the US.
PHONE_FORMATS: dict[str, Callable[[int, int], str]] = {
    "paren": lambda a, n: f"({a}) 555-{n:04d}",
    "intl_spaces": lambda a, n: f"+1 {a} 555 {n:04d}",
    "dots": lambda a, n: f"{a}.555.{n:04d}",
    "dashes": lambda a, n: f"{a}-555-{n:04d}",
    "digits": lambda a, n: f"{a}555{n:04d}",
    "e164": lambda a, n: f"+1{a}555{n:04d}",
    "one_paren": lambda a, n: f"1 ({a}) 555-{n:04d}",
    "intl_dash": lambda a, n: f"+1 {a}-555-{n:04d}",
    "intl_dashes": lambda a, n: f"+1-{a}-555-{n:04d}",
    "ext": lambda a, n: f"({a}) 555-{n:04d} ext. {100 + (a + n) % 800}",
}
# Invalid cells: an area code dropped, a digit short, placeholders (all invalid for the US).
INVALID_FORMATS: tuple[Callable[[int, int], str], ...] = (
    lambda a, n: f"555-{n:04d}",
    lambda a, n: f"({a}) 555-{n:04d}"[:-1],
    lambda a, n: "N/A",
    lambda a, n: "TBD",
    lambda a, n: "000-000-0000",
    lambda a, n: "call me",
    lambda a, n: f"{a}-555-{n:04d}"[:-1],
)


# ---------------------------------------------------------------------------------------
# What a row is
# ---------------------------------------------------------------------------------------

#: the kinds of row, and what normalizing it gives (None: a clean lead)
KINDS: dict[str, str | None] = {
    "phone": None,  # a valid main phone, no mobile
    "both": None,  # a valid main phone and a valid mobile: the main phone is used
    "mobile_only": None,  # the main phone empty, a valid mobile: the mobile is used
    "no_phone": "missing_phone",  # both empty
    "bad_phone": "invalid_phone",  # an invalid main phone, no mobile
    "bad_phone_mobile": "invalid_phone",  # an invalid main phone and a valid mobile: no fallback
    "bad_mobile_only": "invalid_phone",  # the main phone empty, an invalid mobile
    "duplicate": None,  # an earlier lead's phone again, in another format: folded into it
}


@dataclass
class Person:
    first: str
    last: str
    email: str
    company: str
    owner: str
    main: tuple[int, int] | None  # (area, line) of the number in the main phone cell
    mobile: tuple[int, int] | None
    key: tuple[int, int] | None  # the number the lead is known by (None: quarantined)


@dataclass
class Row:
    kind: str
    person: Person
    phone: str = ""
    mobile: str = ""
    status: str = ""  # the lead status cell (or Pipedrive's label)
    stage: str = ""  # HubSpot's lifecycle stage cell
    crm_status: bool = False  # the row's status says nothing clear: kept as crm_status


@dataclass
class Accounting:
    rows: int = 0
    missing_phone: int = 0
    invalid_phone: int = 0
    duplicates: int = 0
    from_mobile: int = 0  # clean rows whose phone came from the mobile column
    crm_status: int = 0  # clean rows whose status is kept as crm_status

    @property
    def quarantined(self) -> int:
        return self.missing_phone + self.invalid_phone

    @property
    def clean(self) -> int:
        return self.rows - self.quarantined

    @property
    def leads(self) -> int:
        return self.clean - self.duplicates


@dataclass
class Export:
    """One export format: its file, header, row plan and how its cells are written."""

    name: str
    title: str
    shows: str
    header: tuple[str, ...]
    kinds: dict[str, int]  # kind -> rows of that kind
    phone_formats: tuple[str, ...]  # PHONE_FORMATS keys this vendor's cells come in
    # (value, clear): clear values map to a leadflow status, the others are kept as crm_status
    statuses: tuple[tuple[str, bool], ...]
    stages: tuple[tuple[str, bool], ...] = ()
    quoting: int = csv.QUOTE_MINIMAL
    line_end: str = "\n"
    rows: list[Row] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.pool = NumberPool(self.rng)

    def person(self, kind: str) -> Person:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        local = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode()
        email = f"{local}{rng.randrange(10, 99)}@{rng.choice(EMAIL_DOMAINS)}"
        if rng.random() < 0.05:
            email = email.split("@")[0] + "@"  # an invalid e-mail: only a note
        company = rng.choice(COMPANIES) if rng.random() < 0.85 else ""
        owner = rng.choice(OWNERS) if rng.random() < 0.9 else ""
        main = mobile = None
        if kind in ("phone", "both", "bad_phone", "bad_phone_mobile"):
            main = self.pool.take()
        if kind in ("both", "mobile_only", "bad_phone_mobile", "bad_mobile_only"):
            mobile = self.pool.take()
        key = {"phone": main, "both": main, "mobile_only": mobile}.get(kind)
        return Person(first, last, email, company, owner, main, mobile, key)

    def _format(self, export: Export, number: tuple[int, int], avoid: str = "") -> str:
        choices = [f for f in export.phone_formats if PHONE_FORMATS[f](*number) != avoid]
        return PHONE_FORMATS[self.rng.choice(choices)](*number)

    def _invalid(self, number: tuple[int, int]) -> str:
        return self.rng.choice(INVALID_FORMATS)(*number)

    def plan(self, export: Export) -> list[Row]:
        """The export's rows: every kind in its planned number, in a seeded order, each
        duplicate after the lead it repeats."""
        rng = self.rng
        kinds = [kind for kind, n in export.kinds.items() if kind != "duplicate" for _ in range(n)]
        rng.shuffle(kinds)
        first_duplicate_at = 12
        for _ in range(export.kinds.get("duplicate", 0)):
            kinds.insert(rng.randrange(first_duplicate_at, len(kinds) + 1), "duplicate")
        rows: list[Row] = []
        for kind in kinds:
            if kind == "duplicate":
                candidates = [r for r in rows if r.person.key and r.kind != "duplicate"]
                original = rng.choice(candidates)
                rows.append(self._duplicate(export, original))
            else:
                rows.append(self._row(export, kind))
        return rows

    def _row(self, export: Export, kind: str) -> Row:
        person = self.person(kind)
        row = Row(kind, person)
        if person.main:
            if kind.startswith("bad_phone"):
                row.phone = self._invalid(person.main)
            else:
                row.phone = self._format(export, person.main)
        if person.mobile:
            if kind == "bad_mobile_only":
                row.mobile = self._invalid(person.mobile)
            else:
                row.mobile = self._format(export, person.mobile)
        self._status(export, row)
        return row

    def _duplicate(self, export: Export, original: Row) -> Row:
        """The same person again, the number they are known by in the main phone cell, in
        another format; some come back with a newer e-mail, company or status."""
        rng = self.rng
        person = original.person
        assert person.key is not None
        shown = original.phone if original.kind != "mobile_only" else original.mobile
        row = Row("duplicate", person, phone=self._format(export, person.key, avoid=shown))
        if rng.random() < 0.3:
            user, _, domain = person.email.partition("@")
            person = replace(
                person, email=f"{user.rstrip('0123456789')}.work@{domain or 'example.com'}"
            )
        if rng.random() < 0.2:
            person = replace(person, company=rng.choice(COMPANIES))
        row.person = person
        self._status(export, row)
        return row

    def _status(self, export: Export, row: Row) -> None:
        rng = self.rng
        status_clear = stage_clear = False
        if export.statuses and rng.random() < 0.85:
            row.status, status_clear = rng.choice(export.statuses)
        if export.stages and rng.random() < 0.8:
            row.stage, stage_clear = rng.choice(export.stages)
        said = row.status or row.stage
        row.crm_status = bool(said) and not status_clear and not stage_clear

    def accounting(self, export: Export) -> Accounting:
        result = Accounting(rows=len(export.rows))
        for row in export.rows:
            reason = KINDS[row.kind]
            if reason == "missing_phone":
                result.missing_phone += 1
            elif reason == "invalid_phone":
                result.invalid_phone += 1
            else:
                result.duplicates += row.kind == "duplicate"
                result.from_mobile += row.kind == "mobile_only"
                result.crm_status += row.crm_status
        return result


# ---------------------------------------------------------------------------------------
# The five formats
# ---------------------------------------------------------------------------------------


def _exports() -> list[Export]:
    hubspot_lead_status = (
        ("New", True),
        ("Open", True),
        ("In Progress", True),
        ("Attempted to Contact", True),
        ("Connected", True),
        ("Open Deal", True),
        ("Unqualified", True),
        ("Bad Timing", True),
    )
    hubspot_lifecycle = (
        ("Subscriber", True),
        ("Lead", True),
        ("Marketing Qualified Lead", True),
        ("Sales Qualified Lead", True),
        ("Opportunity", True),
        ("Customer", True),
        ("Evangelist", False),
        ("Other", False),
    )
    salesforce_status = (
        ("Open - Not Contacted", True),
        ("Working - Contacted", True),
        ("Closed - Converted", True),
        ("Closed - Not Converted", True),
        ("Recycled", False),  # a custom value many orgs add: unknown to leadflow
    )
    zoho_status = (
        ("Attempted to Contact", True),
        ("Contact in Future", True),
        ("Contacted", True),
        ("Junk Lead", True),
        ("Lost Lead", True),
        ("Not Contacted", True),
        ("Pre-Qualified", True),
        ("Not Qualified", True),
        ("Call Back Later", False),  # a custom value: unknown to leadflow
    )
    return [
        Export(
            "hubspot_contacts.csv",
            "HubSpot contacts export",
            "Phone Number and Mobile Phone Number (rows with only the mobile import from it), "
            "Lifecycle Stage beside Lead Status, Contact owner names, Company Name",
            (
                "Record ID",
                "First Name",
                "Last Name",
                "Email",
                "Phone Number",
                "Mobile Phone Number",
                "Contact owner",
                "Lifecycle Stage",
                "Lead Status",
                "Company Name",
                "Original Source",
                "Create Date",
            ),
            {
                "phone": 140,
                "both": 30,
                "mobile_only": 25,
                "no_phone": 8,
                "bad_phone": 10,
                "bad_phone_mobile": 3,
                "bad_mobile_only": 2,
                "duplicate": 22,
            },
            ("paren", "intl_spaces", "dots", "dashes", "digits", "e164", "one_paren", "ext"),
            # HubSpot writes a lead status on fewer contacts than a lifecycle stage
            hubspot_lead_status,
            hubspot_lifecycle,
        ),
        Export(
            "salesforce_leads_report.csv",
            "Salesforce leads report (Details Only, CSV)",
            "labels as headers (Company / Account, Lead Owner), Phone and Mobile, the "
            "classic Lead Status picklist, every field quoted, CRLF",
            (
                "Lead Owner",
                "First Name",
                "Last Name",
                "Title",
                "Company / Account",
                "Email",
                "Phone",
                "Mobile",
                "Lead Source",
                "Lead Status",
                "Create Date",
            ),
            {
                "phone": 110,
                "both": 20,
                "mobile_only": 18,
                "no_phone": 6,
                "bad_phone": 7,
                "bad_phone_mobile": 2,
                "bad_mobile_only": 1,
                "duplicate": 16,
            },
            ("paren", "paren", "paren", "intl_dash", "dots"),  # Salesforce formats US input
            salesforce_status,
            quoting=csv.QUOTE_ALL,
            line_end="\r\n",
        ),
        Export(
            "salesforce_leads_dataloader.csv",
            "Salesforce Data Loader extract of Lead",
            "API names as headers, upper-case as Data Loader writes them (FIRSTNAME, "
            "MOBILEPHONE, OWNERID: user ids, not names), every field quoted",
            (
                "ID",
                "FIRSTNAME",
                "LASTNAME",
                "COMPANY",
                "EMAIL",
                "PHONE",
                "MOBILEPHONE",
                "LEADSOURCE",
                "STATUS",
                "OWNERID",
                "CREATEDDATE",
            ),
            {
                "phone": 125,
                "both": 22,
                "mobile_only": 20,
                "no_phone": 6,
                "bad_phone": 8,
                "bad_phone_mobile": 2,
                "bad_mobile_only": 2,
                "duplicate": 15,
            },
            ("paren", "paren", "paren", "intl_dash", "dots"),
            salesforce_status,
            quoting=csv.QUOTE_ALL,
        ),
        Export(
            "pipedrive_people.csv",
            "Pipedrive people export",
            "exactly Name, Organization, Email, Phone, Label, Owner: one name column, "
            "Organization is the person's employer (not the tenant), labels become tags",
            ("Name", "Organization", "Email", "Phone", "Label", "Owner"),
            {"phone": 262, "no_phone": 9, "bad_phone": 11, "duplicate": 18},
            ("intl_dash", "intl_spaces", "paren", "e164", "digits"),
            # Pipedrive people have no status: the Label column (tags) holds these
            (("Hot lead", True), ("Warm lead", True), ("Cold lead", True), ("Customer", True)),
        ),
        Export(
            "zoho_leads.csv",
            "Zoho CRM leads export",
            "Lead Owner names, Company, Phone and Mobile, Zoho's Lead Status picklist "
            "(and a custom value), Zoho record ids",
            (
                "Record Id",
                "Lead Owner",
                "Company",
                "First Name",
                "Last Name",
                "Email",
                "Phone",
                "Mobile",
                "Lead Source",
                "Lead Status",
                "Created Time",
            ),
            {
                "phone": 90,
                "both": 15,
                "mobile_only": 14,
                "no_phone": 5,
                "bad_phone": 6,
                "bad_phone_mobile": 2,
                "bad_mobile_only": 1,
                "duplicate": 17,
            },
            ("intl_dashes", "dashes", "paren", "dots", "intl_spaces"),
            zoho_status,
        ),
    ]


HUBSPOT_SOURCES = (
    "Organic Search",
    "Paid Social",
    "Direct Traffic",
    "Referrals",
    "Offline Sources",
    "Social Media",
    "Email Marketing",
    "Paid Search",
)
SALESFORCE_SOURCES = (
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Other",
    "Employee Referral",
    "Trade Show",
)
ZOHO_SOURCES = (
    "Advertisement",
    "Cold Call",
    "Employee Referral",
    "External Referral",
    "Trade Show",
    "Web Download",
    "Web Research",
    "Chat",
    "Facebook",
)
TITLES = (
    "Registered Nurse",
    "CDL Driver",
    "Warehouse Associate",
    "Medical Assistant",
    "Forklift Operator",
    "Caregiver",
    "Dental Hygienist",
    "",
)


def _messy_name(rng: random.Random, name: str) -> str:
    roll = rng.random()
    if roll < 0.06:
        return name.upper()
    if roll < 0.1:
        return name.lower()
    if roll < 0.13:
        return f" {name}  "
    return name


def _cells(gen: Generator, export: Export, row: Row, index: int) -> list[str]:
    """The row as the vendor writes it, in the order of export.header."""
    rng = gen.rng
    p = row.person
    first, last = _messy_name(rng, p.first), _messy_name(rng, p.last)
    created = BASE_TIME - timedelta(minutes=rng.randrange(60 * 24 * 400))
    if export.name == "hubspot_contacts.csv":
        return [
            str(51_200_000_000 + index * 37),
            first,
            last,
            p.email,
            row.phone,
            row.mobile,
            p.owner,
            row.stage,
            row.status,
            p.company,
            rng.choice(HUBSPOT_SOURCES),
            created.strftime("%Y-%m-%d %H:%M"),
        ]
    if export.name == "salesforce_leads_report.csv":
        return [
            p.owner,
            first,
            last,
            rng.choice(TITLES),
            p.company or "[not provided]",
            p.email,
            row.phone,
            row.mobile,
            rng.choice(SALESFORCE_SOURCES),
            row.status,
            f"{created.month}/{created.day}/{created.year}",
        ]
    if export.name == "salesforce_leads_dataloader.csv":
        owner = f"0055e0000{OWNERS.index(p.owner) + 1:03d}AbCAAK" if p.owner else ""
        return [
            f"00Q5e00000{index:05d}XyZ",
            first,
            last,
            p.company or "[not provided]",
            p.email,
            row.phone,
            row.mobile,
            rng.choice(SALESFORCE_SOURCES),
            row.status,
            owner,
            created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        ]
    if export.name == "pipedrive_people.csv":
        name = f"{first.strip()} {last.strip()}"
        if rng.random() < 0.05:
            name = f"{last.strip()}, {first.strip()}"
        return [name, p.company, p.email, row.phone, row.status, p.owner]
    # zoho_leads.csv
    return [
        f"zcrm_5725767000000{400_000 + index * 7}",
        p.owner,
        p.company,
        first,
        last,
        p.email,
        row.phone,
        row.mobile,
        rng.choice(ZOHO_SOURCES),
        row.status,
        created.strftime("%Y-%m-%d %H:%M:%S"),
    ]


def write_csv(path: Path, export: Export, cells: Sequence[Sequence[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=export.quoting, lineterminator=export.line_end)
    writer.writerow(export.header)
    writer.writerows(cells)
    path.write_bytes(buffer.getvalue().encode("utf-8"))


def _readme(exports: Sequence[Export], counts: dict[str, Accounting], seed: int) -> str:
    lines = [
        "# CRM exports",
        "",
        "Generated by `scripts/generate_crm_exports.py` (seed "
        f"{seed}); do not edit by hand. Regenerate with",
        "",
        "```",
        f"python scripts/generate_crm_exports.py --out seeds/sample/exports --seed {seed}",
        "```",
        "",
        "`tests/unit/test_exports.py` fails if these files differ from a fresh generation, or",
        "if reading and normalizing them does not give the accounting below. Each file is",
        "imported as-is, without a mapping file, with `--org` (the exports have no tenant",
        "column): `leadflow leads import seeds/sample/exports/pipedrive_people.csv --org <uuid>`.",
        "",
        "Names, e-mails (`example.com/.net/.org`), companies and owners are made up; phone",
        "numbers are fictional US numbers (555-0100 to 555-0199 in real area codes), valid for",
        "`phonenumbers`, one per person and none shared between files.",
        "",
        "## Files",
        "",
    ]
    for export in exports:
        lines.append(f"* `{export.name}`: {export.title}. Shows {export.shows}.")
        lines.append(f"  Header: `{', '.join(export.header)}`.")
    lines += [
        "",
        "## Expected accounting (one organization, region US)",
        "",
        "`quarantined` = `missing_phone` + `invalid_phone`; `clean` = `rows` - `quarantined`;",
        "`leads` = `clean` - `in-file duplicates` (rows folded into an earlier row with the",
        "same phone); `from mobile` = clean rows whose phone came from the mobile column",
        "(`phone_source`); `crm_status` = clean rows whose status or lifecycle stage maps to",
        "no leadflow status and is kept as written.",
        "",
        "| file | rows | quarantined | missing_phone | invalid_phone | clean "
        "| in-file duplicates | leads | from mobile | crm_status |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for export in exports:
        c = counts[export.name]
        lines.append(
            f"| `{export.name}` | {c.rows} | {c.quarantined} | {c.missing_phone} "
            f"| {c.invalid_phone} | {c.clean} | {c.duplicates} | {c.leads} | {c.from_mobile} "
            f"| {c.crm_status} |"
        )
    lines += [
        "",
        "What the rows are (planned counts per file; every kind is spread over the file):",
        "",
        "* a valid main phone; or a valid main phone and a mobile (the main phone is used);",
        "* the main phone empty and the number in the mobile column: imported from the",
        "  mobile, the lead's `phone_source` is the mobile column's header;",
        "* both empty: `missing_phone`; an invalid main phone (an area code dropped, a digit",
        "  short, `N/A`, `TBD`, `000-000-0000`, `call me`): `invalid_phone`, also when the",
        "  mobile holds a valid number (an invalid phone is never silently replaced); the main",
        "  phone empty and an invalid mobile: `invalid_phone`;",
        "* in-file duplicates: an earlier lead's number again in another format, in the main",
        "  phone column (also for leads first seen with only a mobile), some with a newer",
        "  e-mail, company or status;",
        "* owners are names (Data Loader: Salesforce user ids), never leadflow user ids: each",
        "  gives an `invalid_owner` note, never a quarantine; about 5% of e-mails are invalid",
        "  (a note); some names are ALL CAPS, lower case or padded.",
        "",
        "Statuses: HubSpot's Lead Status and Lifecycle Stage labels, Salesforce's classic",
        "Lead Status picklist plus the custom `Recycled`, Zoho's Lead Status picklist plus the",
        "custom `Call Back Later`; HubSpot's `Evangelist` and `Other` and the custom values",
        "map to no leadflow status and are kept in `crm_status` (see",
        "`leadflow/ingest/exports.py`). Pipedrive's Label column becomes tags.",
        "",
    ]
    return "\n".join(lines)


def generate(out_dir: Path, seed: int = DEFAULT_SEED) -> dict[str, Accounting]:
    """Write every export and the README into `out_dir`; each file's expected accounting."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = Generator(seed)
    exports = _exports()
    counts: dict[str, Accounting] = {}
    for export in exports:
        export.rows = gen.plan(export)
        cells = [_cells(gen, export, row, i) for i, row in enumerate(export.rows, start=1)]
        write_csv(out_dir / export.name, export, cells)
        counts[export.name] = gen.accounting(export)
    (out_dir / "README.md").write_text(_readme(exports, counts, seed), encoding="utf-8")
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    for name, c in generate(args.out, args.seed).items():
        print(f"{name}: {c.rows} rows, {c.quarantined} quarantined, {c.duplicates} duplicates")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
