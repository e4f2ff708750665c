"""The demo's sample input files (seeds/sample/) and their generator.

No network, no database: the generator is run into tmp dirs and the files are parsed with
the standard library (csv, json), openpyxl and phonenumbers. The expectations below are
written out independently of the generator, so they check the files, not its self-report.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import openpyxl
import phonenumbers
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "generate_sample_data.py"
COMMITTED = ROOT / "seeds" / "sample"

ORG1 = "11111111-1111-4111-8111-111111111111"
ORG2 = "22222222-2222-4222-8222-222222222222"
ORG3 = "33333333-3333-4333-8333-333333333333"
REGION = {ORG1: "US", ORG2: "GB", ORG3: "AU"}
USERS = {
    org: {f"a{i}000000-0000-4000-8000-{n:012d}" for n in range(1, 5)}
    for i, org in enumerate((ORG1, ORG2, ORG3), start=1)
}
SEED_LEADS = {
    org: {f"b{i}000000-0000-4000-8000-{n:012d}" for n in range(1, 21)}
    for i, org in enumerate((ORG1, ORG2, ORG3), start=1)
}

# name -> (encoding, delimiter, phone header, org when the file has no organization_id)
LEAD_FILES = {
    "leads_summit_facebook.csv": ("utf-8", ",", "Phone", ORG1),
    "leads_northwind_mixed.csv": ("cp1252", ";", "Mobile", ORG2),
    "leads_multi_org.csv": ("utf-8-sig", "\t", "Phone Number", None),
    "leads_southern_cross.xlsx": (None, None, "Cell", ORG3),
}
GENERATED = (
    *LEAD_FILES,
    "dnc_phones.json",
    "activities.json",
    "history.json",
    "manifest.json",
    "README.md",
)

OUTCOMES = {
    "call": {"answered", "no_answer", "voicemail", "busy"},
    "sms": {"delivered", "replied", "failed"},
    "email": {"sent", "opened", "replied", "bounced"},
    "meeting": {"scheduled", "completed", "no_show"},
    "note": {None},
}


def _load_generator():
    spec = importlib.util.spec_from_file_location("generate_sample_data", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up in sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator():
    return _load_generator()


@pytest.fixture(scope="module")
def fresh(generator, tmp_path_factory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("sample_a")
    return out, generator.generate(out, seed=42)


def e164(raw: object, region: str) -> str | None:
    try:
        num = phonenumbers.parse(str(raw) if raw is not None else "", region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def read_rows(directory: Path, name: str) -> list[dict[str, object]]:
    encoding, delimiter, _, _ = LEAD_FILES[name]
    path = directory / name
    if name.endswith(".xlsx"):
        wb = openpyxl.load_workbook(path, read_only=True)
        values = list(wb.worksheets[0].iter_rows(values_only=True))
        wb.close()
        header = [str(h) for h in values[0]]
        return [
            {h: ("" if v is None else v) for h, v in zip(header, row, strict=True)}
            for row in values[1:]
        ]
    with path.open(encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter, strict=True))


def lead_rows(directory: Path) -> list[tuple[str, str, object]]:
    """(file, org id, raw phone) for every lead row, in import order."""
    out = []
    for name, (_, _, phone_header, fixed_org) in LEAD_FILES.items():
        for row in read_rows(directory, name):
            org = fixed_org or row["organization_id"]
            out.append((name, org, row[phone_header]))
    return out


def xlsx_cells(path: Path) -> list[list[tuple[object, ...]]]:
    wb = openpyxl.load_workbook(path)
    cells = [[tuple(row) for row in ws.iter_rows(values_only=True)] for ws in wb.worksheets]
    titles = [ws.title for ws in wb.worksheets]
    wb.close()
    return [titles, *cells]


# --- determinism -------------------------------------------------------------------------


def test_generating_twice_gives_identical_files(generator, fresh, tmp_path):
    first, counts = fresh
    second = generator.generate(tmp_path, seed=42)
    assert second == counts
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in tmp_path.iterdir())
    assert set(GENERATED) <= set(names)
    for name in names:
        # Bytes for everything, the xlsx included: the generator re-zips it with fixed
        # timestamps and a fixed docProps date, so it is byte-stable on one machine.
        assert (first / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_another_seed_gives_other_data(generator, fresh, tmp_path):
    first, _ = fresh
    generator.generate(tmp_path, seed=7)
    assert (first / "leads_summit_facebook.csv").read_bytes() != (
        tmp_path / "leads_summit_facebook.csv"
    ).read_bytes()


def test_committed_files_equal_a_fresh_generation(fresh):
    first, _ = fresh
    for name in GENERATED:
        committed = COMMITTED / name
        assert committed.is_file(), f"{committed} missing: run scripts/generate_sample_data.py"
        if name.endswith(".xlsx"):
            # Cell values, not bytes: the committed zip may have been deflated by another
            # zlib build than the one running the test; the data is what must not drift.
            assert xlsx_cells(committed) == xlsx_cells(first / name), name
        else:
            assert committed.read_bytes() == (first / name).read_bytes(), (
                f"{name} differs from a fresh generation: do not edit seeds/sample by hand, "
                "run `python scripts/generate_sample_data.py`"
            )


# --- lead files ----------------------------------------------------------------------------


def test_row_counts_match_and_are_in_range(fresh):
    _, counts = fresh
    total = 0
    for name in LEAD_FILES:
        rows = read_rows(COMMITTED, name)
        assert counts[name] == len(rows), name
        assert 500 <= len(rows) <= 1500, name
        total += len(rows)
    assert 3000 <= total <= 4000
    manifest = json.loads((COMMITTED / "manifest.json").read_text(encoding="utf-8"))
    assert {n: f["rows"] for n, f in manifest["files"].items()} == {
        n: counts[n] for n in LEAD_FILES
    }


def test_encodings_delimiters_and_headers():
    fb = (COMMITTED / "leads_summit_facebook.csv").read_bytes()
    nw = (COMMITTED / "leads_northwind_mixed.csv").read_bytes()
    multi = (COMMITTED / "leads_multi_org.csv").read_bytes()
    assert not fb.startswith(b"\xef\xbb\xbf")
    fb.decode("utf-8")
    assert fb.splitlines()[0] == b"First Name,Last Name,Phone,E-mail,Lead Source,Tags"
    with pytest.raises(UnicodeDecodeError):
        nw.decode("utf-8")  # accented names are cp1252 bytes
    text = nw.decode("cp1252")
    assert text.startswith("fname;lname;Mobile;Email Address;Source;Tags\r\n")
    for name in ("José", "Zoë", "Müller", "Siobhán"):
        assert name in text or name.upper() in text or name.lower() in text, name
    assert multi.startswith(b"\xef\xbb\xbf")
    assert csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter == ";"
    multi_text = multi.decode("utf-8-sig")
    assert csv.Sniffer().sniff(multi_text[:8192], delimiters=",;\t|").delimiter == "\t"
    wb = openpyxl.load_workbook(COMMITTED / "leads_southern_cross.xlsx", read_only=True)
    header = next(wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    assert list(header) == ["First Name", "Surname", "Cell", "Email", "Lead Source", "Tags"]


def test_multi_org_columns_and_quoting():
    rows = read_rows(COMMITTED, "leads_multi_org.csv")
    assert Counter(r["organization_id"] for r in rows).keys() == {ORG1, ORG2, ORG3}
    owners = Counter()
    for row in rows:
        owner = row["owner_id"]
        assert owner == "" or owner in USERS[row["organization_id"]]
        owners["empty" if owner == "" else "set"] += 1
    assert owners["empty"] > 0 and owners["set"] > owners["empty"]
    notes = [r["Notes"] for r in rows]
    assert sum("\n" in n for n in notes) >= 3
    assert sum("," in n for n in notes) >= 50


@pytest.mark.parametrize("name", list(LEAD_FILES))
def test_invalid_phone_fraction_per_file(name):
    _, _, phone_header, fixed_org = LEAD_FILES[name]
    rows = read_rows(COMMITTED, name)
    invalid = sum(
        e164(r[phone_header], REGION[fixed_org or r["organization_id"]]) is None for r in rows
    )
    assert 0.01 <= invalid / len(rows) <= 0.05, (name, invalid, len(rows))


def test_duplicate_phones_within_an_org():
    seen: dict[tuple[str, str], object] = {}
    rows = lead_rows(COMMITTED)
    dups = reformatted = 0
    per_org = Counter()
    for _, org, raw in rows:
        phone = e164(raw, REGION[org])
        if phone is None:
            continue
        if (org, phone) in seen:
            dups += 1
            per_org[org] += 1
            reformatted += str(seen[(org, phone)]) != str(raw)
        else:
            seen[(org, phone)] = raw
    assert dups / len(rows) >= 0.10
    assert dups / len(rows) <= 0.30
    assert set(per_org) == {ORG1, ORG2, ORG3}
    assert reformatted / dups >= 0.9  # duplicates mostly differ in formatting


def test_same_phone_in_two_orgs():
    phones: dict[str, set[str]] = {org: set() for org in REGION}
    for _, org, raw in lead_rows(COMMITTED):
        phone = e164(raw, REGION[org])
        if phone:
            phones[org].add(phone)
    assert len(phones[ORG1] & phones[ORG2]) >= 5


def test_dnc_phones_occur_in_their_org_only_as_intended():
    dnc = json.loads((COMMITTED / "dnc_phones.json").read_text(encoding="utf-8"))
    assert set(dnc) == {ORG1, ORG2, ORG3}
    occurrences: dict[tuple[str, str], list[object]] = {}
    for _, org, raw in lead_rows(COMMITTED):
        phone = e164(raw, REGION[org])
        if phone:
            occurrences.setdefault((org, phone), []).append(raw)
    for org, numbers in dnc.items():
        assert 3 <= len(numbers) <= 5
        for number in numbers:
            assert e164(number, REGION[org]) == number
            raws = occurrences.get((org, number), [])
            assert len(raws) >= 2, (org, number)
            assert len({str(r) for r in raws}) >= 2, (org, number)  # messily formatted
    assert any((ORG2, number) in occurrences for number in dnc[ORG1])


def test_deliberate_defects_are_present():
    cells: list[str] = []
    for name in LEAD_FILES:
        for row in read_rows(COMMITTED, name):
            cells += [str(v) for v in row.values()]
    assert sum("DROP TABLE" in c for c in cells) >= 3
    assert sum("O'" in c for c in cells) >= 3
    assert sum(c.startswith("=") for c in cells) >= 4
    assert "1-800-FLOWERS" in cells
    assert any(re.fullmatch(r"\w+@", c) for c in cells)  # e-mail without a domain
    assert any(re.search(r"\d\s*(x|ext\.?|#)\s*\d+$", c) for c in cells)  # extensions
    xlsx = read_rows(COMMITTED, "leads_southern_cross.xlsx")
    assert any(isinstance(r["Cell"], int) for r in xlsx)  # leading zero eaten by Excel
    assert all(not isinstance(r["First Name"], int) for r in xlsx)


# --- activities ------------------------------------------------------------------------------


def test_activities_shape_and_unmatched_share():
    path = COMMITTED / "activities.json"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("[\n") and text.endswith("\n]\n")
    events = json.loads(text)
    assert 2000 <= len(events) <= 3000
    assert len(text.splitlines()) == len(events) + 2  # one event per line

    file_phones: dict[str, set[str]] = {org: set() for org in REGION}
    for _, org, raw in lead_rows(COMMITTED):
        phone = e164(raw, REGION[org])
        if phone:
            file_phones[org].add(phone)

    start, end = datetime(2026, 6, 1), datetime(2026, 11, 21)
    stats = Counter()
    previous = ""
    for i, ev in enumerate(events, start=1):
        assert ev["event_id"] == f"evt-{i:06d}"
        org = ev["organization_id"]
        assert org in REGION
        stats[org] += 1
        assert ev["user_id"] in USERS[org]
        assert ev["outcome"] in OUTCOMES[ev["type"]]
        if ev["type"] == "note":
            assert ev["direction"] is None
        else:
            assert ev["direction"] in ("inbound", "outbound")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", ev["occurred_at"])
        assert start <= datetime.strptime(ev["occurred_at"], "%Y-%m-%dT%H:%M:%SZ") < end
        assert ev["occurred_at"] >= previous
        previous = ev["occurred_at"]
        if "duration_seconds" in ev:
            assert ev["type"] in ("call", "meeting") and ev["duration_seconds"] >= 0
        assert ("lead_id" in ev) != ("lead_phone" in ev)
        if "lead_id" in ev:
            assert ev["lead_id"] in SEED_LEADS[org]
            stats["lead_id"] += 1
            continue
        phone = e164(ev["lead_phone"], REGION[org])
        if phone in file_phones[org]:
            stats["matched"] += 1
            stats["messy" if ev["lead_phone"] != phone else "e164"] += 1
        else:
            stats["unmatched"] += 1
            if any(phone in file_phones[o] for o in REGION if o != org):
                stats["other_org"] += 1
    assert all(stats[org] > 100 for org in REGION)
    assert 0.03 <= stats["unmatched"] / len(events) <= 0.10
    assert stats["other_org"] >= 3
    assert stats["lead_id"] >= 0.1 * len(events)
    assert stats["e164"] > stats["messy"] > 0


# --- history.json: a year of CRM history, loaded by `leadflow demo` ------------------------


def _history(directory: Path) -> dict[str, list[dict]]:
    data = json.loads((directory / "history.json").read_text(encoding="utf-8"))
    return {
        table: [dict(zip(t["columns"], row, strict=True)) for row in t["rows"]]
        for table, t in data.items()
    }


def test_history_spans_a_year_for_every_organization_and_they_differ(fresh):
    history = _history(fresh[0])
    leads = history["leads"]
    by_org = {org: [lead for lead in leads if lead["organization_id"] == org] for org in REGION}
    minutes_per_month = 30 * 1440
    shapes = {}
    for org, own in by_org.items():
        months = Counter(min(lead["created_ago"] // minutes_per_month, 11) for lead in own)
        assert sorted(months) == list(range(12)), org  # every one of the 12 months
        assert min(months.values()) >= 15, org  # cohorts of a size worth reading
        assert {lead["user_id"] for lead in own} <= USERS[org]
        for lead in own:
            assert phonenumbers.is_valid_number(phonenumbers.parse(lead["phone_number"]))
            assert lead["created_ago"] >= lead["updated_ago"] >= 60
        statuses = Counter(lead["status"] for lead in own)
        sources = frozenset(lead["source"] for lead in own)
        spend = sum(
            c["cost_usd"] for c in history["lead_source_costs"] if c["organization_id"] == org
        )
        shapes[org] = (len(own), sources, round(statuses["recruited"] / len(own), 2), round(spend))
        assert statuses["recruited"] >= 30 and statuses["cold"] >= 30, org
    # three businesses, not one copied three times: sizes, sources, conversion and spend differ
    for position in range(4):
        assert len({shape[position] for shape in shapes.values()}) == 3, position
    # never a phone of the sample files or the SQL seed: the imports stay as the manifest says
    phones = {(lead["organization_id"], lead["phone_number"]) for lead in leads}
    assert len(phones) == len(leads)


def test_history_events_follow_each_leads_story(fresh):
    history = _history(fresh[0])
    leads = history["leads"]
    for row in history["lead_status_history"] + history["lead_activities"]:
        assert 0 <= row["lead"] < len(leads)
    first_contact: dict[int, int] = {}
    for activity in history["lead_activities"]:
        assert activity["outcome"] in OUTCOMES[activity["activity_type"]]
        if activity["direction"] == "outbound":
            first_contact[activity["lead"]] = max(
                first_contact.get(activity["lead"], 0), activity["occurred_ago"]
            )
    assigned = {a["lead"]: a["assigned_ago"] for a in history["lead_assignments"]}
    assert len(assigned) == len(history["lead_assignments"])  # one assignment per lead
    # contact delays are real: most leads are contacted after their assignment, within days
    delays = [(assigned[lead] - at) / 60 for lead, at in first_contact.items() if lead in assigned]
    assert all(delay >= 0 for delay in delays)
    within_day = sum(delay <= 24 for delay in delays) / len(delays)
    assert 0.3 < within_day < 0.95
    # most recruited leads were hot first and met the recruiter; hot leads also go cold
    recruited = {h["lead"] for h in history["lead_status_history"] if h["to_status"] == "recruited"}
    hot = {h["lead"] for h in history["lead_status_history"] if h["to_status"] == "hot"}
    met = {
        a["lead"]
        for a in history["lead_activities"]
        if (a["activity_type"], a["outcome"]) == ("meeting", "completed")
    }
    assert recruited and len(recruited & hot) > 0.6 * len(recruited)
    assert len(hot - recruited) >= 50
    assert len(recruited & met) > 0.5 * len(recruited)
