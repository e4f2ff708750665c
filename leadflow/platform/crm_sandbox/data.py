"""Deterministic, realistically messy lead records of a US recruiting firm, shaped as each
vendor's API returns them (without ids and times: `ContractServer.add` assigns those).

Shares, exact for any seed (rounded): 5% invalid phones, 4% an empty phone with a valid
mobile, 2% no phone at all, 5% duplicates of an earlier record's phone in another format; the
rest (84%) a valid US phone in a messy format. Salesforce: 2% DoNotCall.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import phonenumbers

from leadflow.platform.crm_sandbox.salesforce import salesforce_id

AREA_CODES = (
    "206",
    "212",
    "213",
    "303",
    "305",
    "312",
    "404",
    "415",
    "469",
    "480",
    "503",
    "512",
    "602",
    "612",
    "615",
    "617",
    "646",
    "702",
    "720",
    "858",
    "919",
    "971",
)

#: messy renderings of one number, given area code, exchange and line (all valid for US)
PHONE_FORMATS: tuple[Callable[[str, str, str, random.Random], str], ...] = (
    lambda a, e, n, rng: f"({a}) {e}-{n}",
    lambda a, e, n, rng: f"{a}.{e}.{n}",
    lambda a, e, n, rng: f"+1 {a} {e} {n}",
    lambda a, e, n, rng: f"1-{a}-{e}-{n}",
    lambda a, e, n, rng: f"{a} {e} {n} ext. {rng.randint(2, 99)}",
    lambda a, e, n, rng: f"{a}-{e}-{n}",
    lambda a, e, n, rng: f"{a}{e}{n}",
    lambda a, e, n, rng: f"+1{a}{e}{n}",
    lambda a, e, n, rng: f" ({a}){e}-{n} ",
)

#: not valid numbers (phonenumbers rejects each, or cannot parse it)
INVALID_PHONES = (
    "12345",
    "call me",
    "+1 999 000",
    "555-0100",
    "000-000-0000",
    "n/a",
    "415-86",
    "tbd",
)

FIRST_NAMES = (
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "Edsger",
    "Radia",
    "Donald",
    "Hedy",
    "John",
    "Shafi",
    "Tim",
    "Sophie",
    "Guido",
    "Annie",
    "Carlos",
    "Priya",
    "Wei",
    "Fatima",
    "Diego",
    "Aisha",
    "Mateo",
    "Yuki",
    "Omar",
    "Elena",
    "Marcus",
    "Keisha",
    "Ravi",
    "Lucia",
    "Tyrone",
    "Mei",
)
LAST_NAMES = (
    "Lovelace",
    "Hopper",
    "Turing",
    "Johnson",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Knuth",
    "Lamarr",
    "McCarthy",
    "Goldwasser",
    "Berners-Lee",
    "Wilson",
    "Van Rossum",
    "Easley",
    "Garcia",
    "Patel",
    "Zhang",
    "Khan",
    "Rodriguez",
    "Okafor",
    "Nguyen",
    "Tanaka",
    "Haddad",
    "Petrova",
    "O'Brien",
    "Washington",
)
COMPANIES = (
    ("Northwind Logistics", "northwindlogistics.com"),
    ("Bluebird Health", "bluebirdhealth.org"),
    ("Cascade Analytics", "cascadeanalytics.io"),
    ("Summit Retail Group", "summitretail.com"),
    ("Lakeside Manufacturing", "lakesidemfg.com"),
    ("Redwood Software", "redwoodsoftware.dev"),
    ("Harborview Capital", "harborviewcap.com"),
    ("Prairie Wind Energy", "prairiewind.energy"),
    ("Golden Gate Biotech", "ggbiotech.com"),
    ("Magnolia Hospitality", "magnoliahospitality.com"),
    ("Ironclad Construction", "ironcladbuild.com"),
    ("Silverline Education", "silverline.edu"),
)
FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com")

HUBSPOT_LEAD_STATUSES = (
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "BAD_TIMING",
)
HUBSPOT_LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
)
HUBSPOT_SOURCES = ("ORGANIC_SEARCH", "PAID_SOCIAL", "OFFLINE", "REFERRALS")
HUBSPOT_OWNERS = ("61234501", "61234502", "61234503", "61234504")
SALESFORCE_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
)
SALESFORCE_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List")
SALESFORCE_OWNERS = tuple(salesforce_id("005", number) for number in (4711, 4712, 4713))
PIPEDRIVE_OWNERS = (
    {"id": 13254001, "name": "Jordan Blake"},
    {"id": 13254002, "name": "Sam Rivera"},
    {"id": 13254003, "name": "Taylor Brooks"},
)
#: Pipedrive person label ids (Hot, Warm, Cold) or none
PIPEDRIVE_LABELS = (5, 6, 7, None)

VENDORS = ("hubspot", "salesforce", "pipedrive")

#: the share of each phone case; the rest are valid
SHARES = {"invalid": 0.05, "mobile_only": 0.04, "no_phone": 0.02, "duplicate": 0.05}
DO_NOT_CALL_SHARE = 0.02
#: of the records with a valid phone, the share that also has a (different) valid mobile
EXTRA_MOBILE_SHARE = 0.10


def _valid_national(rng: random.Random, used: set[str]) -> str:
    """A fresh 10-digit US number that phonenumbers accepts as valid."""
    while True:
        exchange = rng.randint(200, 999)
        if exchange == 555 or exchange % 100 == 11:
            continue
        national = f"{rng.choice(AREA_CODES)}{exchange}{rng.randint(0, 9999):04d}"
        if national in used:
            continue
        if phonenumbers.is_valid_number(phonenumbers.parse(national, "US")):
            used.add(national)
            return national


def _render(national: str, rng: random.Random, avoid: int | None = None) -> tuple[str, int]:
    choices = [i for i in range(len(PHONE_FORMATS)) if i != avoid]
    index = rng.choice(choices)
    text = PHONE_FORMATS[index](national[:3], national[3:6], national[6:], rng)
    return text, index


def _messy_name(name: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.05:
        return f"  {name.swapcase()}  "
    if roll < 0.10:
        return name.upper()
    if roll < 0.14:
        return name.lower()
    if roll < 0.18:
        return f"{name} "
    return name


def _email(first: str, last: str, domain: str, rng: random.Random) -> str | None:
    local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
    roll = rng.random()
    if roll < 0.03:
        return None
    if roll < 0.06:
        return rng.choice([f"{first.lower()}@", f"{local}.{domain}", f"{local}@@{domain}"])
    if roll < 0.16:
        return f"{first}.{last}".replace(" ", "") + f"@{domain.title()} "
    return f"{local}@{domain}"


def _categories(count: int, rng: random.Random) -> list[str]:
    quotas = {name: round(share * count) for name, share in SHARES.items()}
    valid = count - sum(quotas.values())
    cases = ["valid"] * valid + [name for name, n in quotas.items() for _ in range(n)]
    rng.shuffle(cases)
    if cases and cases[0] == "duplicate":  # a duplicate needs an earlier number
        first_valid = cases.index("valid")
        cases[0], cases[first_valid] = cases[first_valid], cases[0]
    return cases


def _leads(count: int, seed: int) -> list[dict[str, Any]]:
    """Vendor-neutral leads: name, email, phone and mobile text, company, picks."""
    rng = random.Random(seed)
    used: set[str] = set()
    cases = _categories(count, rng)
    do_not_call = set(rng.sample(range(count), round(DO_NOT_CALL_SHARE * count)))
    earlier: list[tuple[int, str, int]] = []  # (lead index, national number, format index)
    leads: list[dict[str, Any]] = []
    for index, case in enumerate(cases):
        company, company_domain = rng.choice(COMPANIES)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        domain = rng.choice((company_domain, *FREE_MAIL))
        phone: str | None = None
        mobile: str | None = None
        source_of: int | None = None
        if case == "valid":
            national = _valid_national(rng, used)
            phone, fmt = _render(national, rng)
            earlier.append((index, national, fmt))
            if rng.random() < EXTRA_MOBILE_SHARE:
                mobile, _ = _render(_valid_national(rng, used), rng)
        elif case == "invalid":
            phone = rng.choice(INVALID_PHONES)
        elif case == "mobile_only":
            phone = ""
            national = _valid_national(rng, used)
            mobile, fmt = _render(national, rng)
            earlier.append((index, national, fmt))
        elif case == "duplicate":
            source_of, national, fmt = rng.choice(earlier)
            phone, _ = _render(national, rng, avoid=fmt)
            original = leads[source_of]
            first, last, company = original["first"], original["last"], original["company"]
            company_domain = original["company_domain"]
            domain = rng.choice((company_domain, *FREE_MAIL))
        email = _email(first, last, domain, rng)
        if (
            case == "duplicate"
            and source_of is not None  # always, for a duplicate
            and rng.random() < 0.5
            and leads[source_of]["email"]
        ):
            email = leads[source_of]["email"].upper()  # the same address, typed differently
        leads.append(
            {
                "case": case,
                "duplicate_of": source_of,
                "first": first,
                "last": last,
                "first_text": _messy_name(first, rng),
                "last_text": _messy_name(last, rng),
                "email": email,
                "phone": phone,
                "mobile": mobile,
                "company": company,
                "company_domain": company_domain,
                "do_not_call": index in do_not_call,
                "rng": random.Random(rng.getrandbits(64)),
            }
        )
    return leads


def _hubspot(lead: dict[str, Any]) -> dict:
    rng: random.Random = lead["rng"]
    return {
        "properties": {
            "firstname": lead["first_text"],
            "lastname": lead["last_text"],
            "email": lead["email"],
            "phone": lead["phone"],
            "mobilephone": lead["mobile"],
            "company": lead["company"],
            "hs_lead_status": rng.choice(HUBSPOT_LEAD_STATUSES),
            "lifecyclestage": rng.choice(HUBSPOT_LIFECYCLE_STAGES),
            "hs_analytics_source": rng.choice(HUBSPOT_SOURCES),
            "hubspot_owner_id": rng.choice(HUBSPOT_OWNERS),
        }
    }


def _salesforce(lead: dict[str, Any]) -> dict:
    rng: random.Random = lead["rng"]
    return {
        "attributes": {"type": "Lead"},
        "FirstName": lead["first_text"],
        "LastName": lead["last_text"],
        "Phone": lead["phone"] or None,  # Salesforce keeps no empty strings
        "MobilePhone": lead["mobile"],
        "Email": lead["email"],
        "Company": lead["company"],
        "Status": rng.choice(SALESFORCE_STATUSES),
        "LeadSource": rng.choice(SALESFORCE_SOURCES),
        "OwnerId": rng.choice(SALESFORCE_OWNERS),
        "DoNotCall": lead["do_not_call"],
    }


def _pipedrive(lead: dict[str, Any]) -> dict:
    rng: random.Random = lead["rng"]
    if lead["phone"] is None and lead["mobile"] is None:
        phones = [{"value": "", "primary": True}]
    else:
        phones = [{"label": "work", "value": lead["phone"] or "", "primary": True}]
        if lead["mobile"]:
            phones.append({"label": "mobile", "value": lead["mobile"], "primary": False})
    emails = (
        [{"label": "work", "value": lead["email"], "primary": True}]
        if lead["email"]
        else [{"value": "", "primary": True}]
    )
    return {
        "name": f"{lead['first_text']} {lead['last_text']}",
        "first_name": lead["first_text"],
        "last_name": lead["last_text"],
        "phone": phones,
        "email": emails,
        "org_name": None if rng.random() < 0.1 else lead["company"],
        "owner_id": dict(rng.choice(PIPEDRIVE_OWNERS)),
        "label": rng.choice(PIPEDRIVE_LABELS),
    }


_SHAPERS: dict[str, Callable[[dict[str, Any]], dict]] = {
    "hubspot": _hubspot,
    "salesforce": _salesforce,
    "pipedrive": _pipedrive,
}


def custom_fields(vendor: str, count: int, *, seed: int = 7) -> dict[str, str]:
    """`count` custom fields of an account, as its API names them (Pipedrive: a 40-hex key per
    field; HubSpot: a property name; Salesforce: `Name__c`), with values a recruiter might keep
    about a candidate: what a pull must not store."""
    rng = random.Random(seed)
    fields = {}
    for number in range(count):
        if vendor == "pipedrive":
            key = f"{rng.getrandbits(160):040x}"
        elif vendor == "salesforce":
            key = f"Custom_{number}__c"
        else:
            key = f"custom_{number}"
        fields[key] = f"sensitive-{number}: {rng.choice(SENSITIVE_NOTES)}"
    return fields


#: what a custom field of a recruiting CRM may hold about a person
SENSITIVE_NOTES = (
    "salary expectation 95k",
    "on sick leave",
    "visa pending",
    "union member",
    "disability accommodation",
    "background check: flagged",
)


def generate_records(
    vendor: str, count: int, *, seed: int = 7, extra_fields: int = 0
) -> list[dict]:
    """`count` vendor-shaped lead records, the same for the same seed (see the module
    docstring for the shares of each phone case); with `extra_fields`, each also carries that
    many custom fields of the account (`custom_fields`)."""
    try:
        shape = _SHAPERS[vendor]
    except KeyError:
        raise ValueError(f"unknown CRM vendor {vendor!r}; expected one of {VENDORS}") from None
    if count < 0:
        raise ValueError("count must not be negative")
    records = [shape(lead) for lead in _leads(count, seed)]
    if extra_fields:
        extra = custom_fields(vendor, extra_fields, seed=seed)
        for record in records:
            (record["properties"] if vendor == "hubspot" else record).update(extra)
    return records
