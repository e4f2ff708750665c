"""Reading lead files: inspection (hash, encoding, delimiter, headers) and streaming rows."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from leadflow import tabular
from leadflow.ingest.reading import (
    HEADER_ALIASES,
    MAX_CELL_CHARS,
    FileFormatError,
    FileInfo,
    RowPlan,
    inspect_file,
    iter_cell_chunks,
    iter_rows,
    load_mapping_file,
    map_headers,
    normalize_header,
    settle_tenant,
    sniff_delimiter,
)
from leadflow.leads.records import RawRow, RejectReason

SAMPLES = Path(__file__).resolve().parents[2] / "seeds" / "sample"


def _write(tmp_path: Path, content: str | bytes, name: str = "leads.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return path


def _rows(info: FileInfo, chunk_size: int = 50_000) -> list[RawRow]:
    return [row for chunk in iter_rows(info, chunk_size) for row in chunk]


# --- headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("E-mail ", "email"),
        ("Phone Number", "phonenumber"),
        ("phone_number", "phonenumber"),
        ("  First.Name ", "firstname"),
        ("Organization ID", "organizationid"),
        ("Téléphone", "téléphone"),
        ("", ""),
    ],
)
def test_normalize_header(header: str, expected: str) -> None:
    assert normalize_header(header) == expected


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Phone", "phone_number"),
        ("Phone Number", "phone_number"),
        ("phone_no", "phone_number"),
        ("Mobile", "phone_number"),
        ("Mobile Phone", "phone_number"),
        ("Cell", "phone_number"),
        ("cell-phone", "phone_number"),
        ("Tel", "phone_number"),
        ("Telephone", "phone_number"),
        ("Contact Number", "phone_number"),
        ("WhatsApp", "phone_number"),
        ("First Name", "first_name"),
        ("fname", "first_name"),
        ("Given Name", "first_name"),
        ("Forename", "first_name"),
        ("Last Name", "last_name"),
        ("lname", "last_name"),
        ("Surname", "last_name"),
        ("Family Name", "last_name"),
        ("Name", "full_name"),
        ("Full Name", "full_name"),
        ("Contact Name", "full_name"),
        ("E-mail", "email"),
        ("Email Address", "email"),
        ("Mail", "email"),
        ("Lead Source", "source"),
        ("utm_source", "source"),
        ("Channel", "source"),
        ("Tags", "tags"),
        ("Labels", "tags"),
        ("Status", "status"),
        ("Lead Status", "status"),
        ("Stage", "status"),
        ("organization_id", "organization_id"),
        ("Org ID", "organization_id"),
        ("Organisation ID", "organization_id"),
        ("tenant_id", "organization_id"),
        ("owner_id", "user_id"),
        ("Owner", "user_id"),
        ("Assigned To", "user_id"),
        ("user_id", "user_id"),
        ("Notes", "notes"),
        ("Comments", "notes"),
        ("Referred By", "referred_by"),
        ("Referrer", "referred_by"),
        ("Referred By Phone", "referred_by"),
    ],
)
def test_header_aliases(header: str, field: str) -> None:
    mapping, unmapped = map_headers([header])
    assert mapping == {header: field}
    assert unmapped == []


def test_no_spelling_means_two_fields() -> None:
    from leadflow.ingest import reading

    fields_of: dict[str, set[str]] = {}
    for field, others in reading._FIELD_SPELLINGS.items():
        for spelling in (field, *others):
            fields_of.setdefault(normalize_header(spelling), set()).add(field)
    assert {key: f for key, f in fields_of.items() if len(f) > 1} == {}
    assert set(HEADER_ALIASES.values()) <= set(reading.LEAD_FIELDS)


def test_number_is_too_vague_to_map() -> None:
    assert map_headers(["Number"]) == ({}, ["Number"])


def test_first_column_wins_for_a_field() -> None:
    mapping, unmapped = map_headers(["Mobile", "Phone", "Email", "E-mail", "Email"])
    assert mapping == {"Mobile": "phone_number", "Email": "email"}
    assert unmapped == ["Phone", "E-mail", "Email"]


def test_overrides_win_and_can_ignore_columns() -> None:
    mapping, unmapped = map_headers(
        ["Numero", "Phone", "Nom", "Comments"],
        {"Numero": "phone_number", "nom": "last_name", "Comments": ""},
    )
    assert mapping == {"Numero": "phone_number", "Nom": "last_name"}
    assert unmapped == ["Phone", "Comments"]


def test_overrides_reject_unknown_fields() -> None:
    with pytest.raises(FileFormatError, match="unknown field 'telephone'"):
        map_headers(["X"], {"X": "telephone"})


def test_load_mapping_file(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"Numero": "phone_number", "Junk": None, "Nom": "last_name"}))
    assert load_mapping_file(path) == {"Numero": "phone_number", "Junk": "", "Nom": "last_name"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"A": "telephone"}', "unknown field 'telephone'"),
        ('{"A": 3}', "must be a string"),
    ],
)
def test_load_mapping_file_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "map.json"
    path.write_text(content)
    with pytest.raises(FileFormatError, match=message):
        load_mapping_file(path)


def test_load_mapping_file_missing(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="cannot be read"):
        load_mapping_file(tmp_path / "nope.json")


def test_inspect_with_mapping_override(tmp_path: Path) -> None:
    path = _write(tmp_path, "Nom,Numero\nDupont,0612345678\n")
    with pytest.raises(FileFormatError):
        inspect_file(path)
    mapping_path = tmp_path / "map.json"
    mapping_path.write_text('{"Numero": "phone_number", "Nom": "last_name"}')
    info = inspect_file(path, load_mapping_file(mapping_path))
    assert info.mapping == {"Nom": "last_name", "Numero": "phone_number"}
    assert _rows(info)[0].values == {"last_name": "Dupont", "phone_number": "0612345678"}


# --- phone and mobile columns ------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # a main phone first: the first mobile column after it is its fallback
        (["Phone", "Mobile"], {"Phone": "phone_number", "Mobile": "mobile_phone"}),
        (
            ["Phone Number", "Mobile Phone Number"],
            {"Phone Number": "phone_number", "Mobile Phone Number": "mobile_phone"},
        ),
        (["PHONE", "MOBILEPHONE"], {"PHONE": "phone_number", "MOBILEPHONE": "mobile_phone"}),
        (
            ["Person - Phone - Work", "Person - Phone - Mobile"],
            {"Person - Phone - Work": "phone_number", "Person - Phone - Mobile": "mobile_phone"},
        ),
        (["Phone", "Mobile", "Cell"], {"Phone": "phone_number", "Mobile": "mobile_phone"}),
        # a mobile column first is the phone, as it always was; later ones map to nothing
        (["Mobile"], {"Mobile": "phone_number"}),
        (["Mobile", "Phone"], {"Mobile": "phone_number"}),
        (["Cell", "Mobile"], {"Cell": "phone_number"}),
    ],
)
def test_mobile_columns(headers: list[str], expected: dict[str, str]) -> None:
    mapping, unmapped = map_headers(headers)
    assert mapping == expected
    assert unmapped == [h for h in headers if h not in expected]


def test_mobile_after_an_overridden_phone_is_its_fallback() -> None:
    mapping, _ = map_headers(["Numero", "Mobile"], {"Numero": "phone_number"})
    assert mapping == {"Numero": "phone_number", "Mobile": "mobile_phone"}
    mapping, _ = map_headers(["Mobile", "Numero"], {"Numero": "phone_number"})
    assert mapping == {"Mobile": "mobile_phone", "Numero": "phone_number"}


def test_an_overridden_field_is_not_given_to_an_earlier_column() -> None:
    mapping, unmapped = map_headers(["Phone", "Email", "Numero"], {"numero": "phone_number"})
    assert mapping == {"Email": "email", "Numero": "phone_number"}
    assert unmapped == ["Phone"]


def test_a_file_with_only_a_mobile_column_imports(tmp_path: Path) -> None:
    info = inspect_file(_write(tmp_path, "Name,Mobile\nAl,2125550123\n"))
    assert info.mapping == {"Name": "full_name", "Mobile": "phone_number"}
    # named mobile_phone by a mapping file: still a phone column (normalize falls back to it)
    path = _write(tmp_path, "Name,Handy\nAl,2125550123\n", "handy.csv")
    info = inspect_file(path, {"Handy": "mobile_phone"})
    assert info.mapping == {"Name": "full_name", "Handy": "mobile_phone"}
    assert info.pinned == ["Handy"]


def test_rows_carry_the_headers_of_their_fields(tmp_path: Path) -> None:
    content = "Phone Number,Mobile Phone Number,Phone Number\n,2125550123,x\n"
    info = inspect_file(_write(tmp_path, content))
    [row] = _rows(info)
    assert row.values == {"phone_number": "", "mobile_phone": "2125550123"}
    assert row.headers == {
        "phone_number": "Phone Number",
        "mobile_phone": "Mobile Phone Number",
    }
    plan = RowPlan.for_info(info)
    assert plan.make_rows(1, [["1", "2", "3"], ["4", "5", "6"]])[1].headers is plan.headers


def test_rows_keep_their_file_line_across_chunks(tmp_path: Path) -> None:
    """Data rows count 1, 2, ...; lines are the file's (header, blank lines and a record's
    extra lines count), chunk after chunk."""
    content = 'Phone,Notes\n\n2125550101,a\n2125550102,"two\nlines"\n\n\n2125550103,b\nx,y\n'
    info = inspect_file(_write(tmp_path, content))
    chunks = list(iter_cell_chunks(info, chunk_size=2))
    assert [(first, lines) for first, _, lines in chunks] == [(1, [3, 4]), (3, [8, 9])]
    rows = [row for chunk in iter_rows(info, chunk_size=3) for row in chunk]
    assert [(r.row_number, r.line_number) for r in rows] == [(1, 3), (2, 4), (3, 8), (4, 9)]
    with pytest.raises(ValueError, match="lines"):
        RowPlan.for_info(info).make_rows(1, [["1", "2"]], [3, 4])


# --- the tenant column -------------------------------------------------------------------

ORG_A = "11111111-1111-4111-8111-111111111111"
ORG_B = "22222222-2222-4222-8222-222222222222"
KNOWN = frozenset({ORG_A, ORG_B})
SLUGS = {"summit": ORG_A, "northwind": ORG_B}


def _csv(tmp_path: Path, header: str, cells: list[str], name: str = "orgs.csv") -> FileInfo:
    lines = [header] + [f"{cell},212555{i:04d}" for i, cell in enumerate(cells)]
    return inspect_file(_write(tmp_path, "\n".join(lines) + "\n", name))


def test_explicit_org_always_wins(tmp_path: Path) -> None:
    info = _csv(tmp_path, "Organization,Phone", [ORG_A, ORG_B])
    settled = settle_tenant(info, KNOWN, SLUGS, ORG_A)
    assert settled.mapping == {"Organization": "company", "Phone": "phone_number"}
    assert settled.unmapped == []
    # a tenant id column is dropped, whatever its values
    info = _csv(tmp_path, "organization_id,Phone", [ORG_B, ORG_B], "ids.csv")
    settled = settle_tenant(info, KNOWN, SLUGS, ORG_A)
    assert settled.mapping == {"Phone": "phone_number"}
    assert settled.unmapped == ["organization_id"]
    assert info.mapping["organization_id"] == "organization_id"  # the input is not changed


@pytest.mark.parametrize(
    "values",
    [
        [ORG_A, ORG_B, ORG_A.upper(), "Acme"],  # 3 of 4 known ids (any case)
        ["summit", "NORTHWIND", "Acme", "Globex"],  # slugs, case-insensitive; half is enough
        [f" {ORG_A} ", "", "", "northwind"],  # empty cells do not count
    ],
)
def test_organization_naming_tenants_is_the_tenant(tmp_path: Path, values: list[str]) -> None:
    info = _csv(tmp_path, "Organization,Phone", values)
    settled = settle_tenant(info, KNOWN, SLUGS, None)
    assert settled.mapping == {"Organization": "organization_id", "Phone": "phone_number"}


@pytest.mark.parametrize(
    "values",
    [
        ["Acme Inc", "Globex", "summit", "Initech"],  # 1 of 4: employers
        ["99999999-9999-4999-8999-999999999999", "Acme", "Globex"],  # unknown ids: not ours
        ["", "", ""],  # nothing to go by: not the tenant
    ],
)
def test_organization_naming_employers_is_the_company(tmp_path: Path, values: list[str]) -> None:
    info = _csv(tmp_path, "Organization,Phone", values)
    settled = settle_tenant(info, KNOWN, SLUGS, None)
    assert settled.mapping == {"Organization": "company", "Phone": "phone_number"}


def test_a_tenant_id_column_stays_the_tenant_without_org(tmp_path: Path) -> None:
    # even when its values are unknown: those rows are quarantined as unknown organizations
    info = _csv(tmp_path, "org_id,Phone", ["not-an-org", "99999999-9999-4999-8999-999999999999"])
    assert settle_tenant(info, KNOWN, SLUGS, None).mapping == {
        "org_id": "organization_id",
        "Phone": "phone_number",
    }


def test_an_id_column_beside_an_organization_column(tmp_path: Path) -> None:
    content = f"Organization,tenant_id,Phone\nAcme,{ORG_A},2125550100\n"
    info = inspect_file(_write(tmp_path, content))
    assert info.mapping["Organization"] == "organization_id"  # first column wins, unsettled
    settled = settle_tenant(info, KNOWN, SLUGS, None)
    assert settled.mapping == {
        "Organization": "company",
        "tenant_id": "organization_id",
        "Phone": "phone_number",
    }
    with_org = settle_tenant(info, KNOWN, SLUGS, ORG_A)
    assert with_org.mapping == {"Organization": "company", "Phone": "phone_number"}
    assert with_org.unmapped == ["tenant_id"]


def test_a_company_column_keeps_company_first_wins(tmp_path: Path) -> None:
    content = "Company,Organization,Phone\nAcme,Globex,2125550100\n"
    settled = settle_tenant(inspect_file(_write(tmp_path, content)), KNOWN, SLUGS, ORG_A)
    assert settled.mapping == {"Company": "company", "Phone": "phone_number"}
    assert settled.unmapped == ["Organization"]


def test_the_mapping_file_decides_its_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, "Organization,Client,Phone\nAcme,summit,2125550100\n")
    info = inspect_file(path, {"Client": "organization_id"})
    assert settle_tenant(info, KNOWN, SLUGS, None).mapping == {
        "Organization": "company",
        "Client": "organization_id",
        "Phone": "phone_number",
    }
    info = inspect_file(path, {"Organization": "organization_id"})
    settled = settle_tenant(info, KNOWN, SLUGS, None)  # no sampling: the file said so
    assert settled.mapping["Organization"] == "organization_id"
    settled = settle_tenant(info, KNOWN, SLUGS, ORG_A)  # but --org still wins
    assert "Organization" in settled.unmapped


def test_files_without_tenant_columns_are_returned_as_they_are(tmp_path: Path) -> None:
    info = inspect_file(_write(tmp_path, "Phone,Company\n2125550100,Acme\n"))
    assert settle_tenant(info, KNOWN, SLUGS, ORG_A) is info
    assert settle_tenant(info, KNOWN, SLUGS, None) is info


def test_the_sample_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # employers in the first rows, tenant ids after: only the first values are looked at
    values = ["Acme"] * 5 + [ORG_A] * 50
    info = _csv(tmp_path, "Organization,Phone", values)
    assert settle_tenant(info, KNOWN, SLUGS, None, sample_size=5).mapping["Organization"] == (
        "company"
    )
    assert settle_tenant(info, KNOWN, SLUGS, None, sample_size=20).mapping["Organization"] == (
        "organization_id"
    )
    # a nearly empty column: at most 10 rows per wanted value are read, then it is decided
    read: list[int] = []
    real = tabular.iter_table_rows

    def counting(table: object, **kwargs: object):
        for item in real(table, **kwargs):  # type: ignore[arg-type]
            read.append(item[0])
            yield item

    monkeypatch.setattr("leadflow.ingest.reading.iter_table_rows", counting)
    sparse = _csv(tmp_path, "Organization,Phone", [""] * 500 + [ORG_A] * 10, "sparse.csv")
    assert (
        settle_tenant(sparse, KNOWN, SLUGS, None, sample_size=3).mapping["Organization"]
        == "company"
    )
    assert len(read) == 30
    with pytest.raises(ValueError):
        settle_tenant(sparse, KNOWN, SLUGS, None, sample_size=0)


def test_the_tenant_column_of_an_xlsx_is_sampled_too(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "orgs.xlsx", [["Phone", "Organization"], [2125550100, "summit"]])
    settled = settle_tenant(inspect_file(path), KNOWN, SLUGS, None)
    assert settled.mapping["Organization"] == "organization_id"


# --- inspection ------------------------------------------------------------------------


def test_inspect_basic_csv(tmp_path: Path) -> None:
    content = (
        "First Name,Last Name,Phone,E-mail,Favourite Colour\nJane,Doe,2125550123,j@x.com,red\n"
    )
    path = _write(tmp_path, content)
    info = inspect_file(path)
    assert info.path == path
    assert info.size == len(content)
    assert info.sha256 == hashlib.sha256(content.encode()).hexdigest()
    assert info.kind == "csv"
    assert info.encoding == "utf-8"
    assert info.delimiter == ","
    assert info.headers == ["First Name", "Last Name", "Phone", "E-mail", "Favourite Colour"]
    assert info.mapping == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Phone": "phone_number",
        "E-mail": "email",
    }
    assert info.unmapped == ["Favourite Colour"]
    [row] = _rows(info)
    assert row.row_number == 1
    assert row.values == {
        "first_name": "Jane",
        "last_name": "Doe",
        "phone_number": "2125550123",
        "email": "j@x.com",
    }
    assert row.raw["Favourite Colour"] == "red"  # unmapped columns still reach quarantine
    assert row.problem is None


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_sniffed(tmp_path: Path, delimiter: str) -> None:
    header = delimiter.join(["First Name", "Phone", "Notes"])
    lines = [header] + [
        delimiter.join([f"Name{i}", f"212555{i:04d}", f"note {i}"]) for i in range(20)
    ]
    path = _write(tmp_path, "\n".join(lines) + "\n")
    info = inspect_file(path)
    assert info.delimiter == delimiter
    rows = _rows(info)
    assert len(rows) == 20
    assert rows[3].values == {
        "first_name": "Name3",
        "phone_number": "2125550003",
        "notes": "note 3",
    }


def test_sniffer_answer_must_appear_in_the_header() -> None:
    # notes full of semicolons, comma-delimited header: the header decides
    sample = "Name,Phone,Notes\n" + "".join(f'A{i},1,"a; b; c; d"\n' for i in range(5))
    assert sniff_delimiter(sample) == ","
    assert sniff_delimiter("Phone\n2125550123\n") == ","  # nothing to sniff: default
    assert sniff_delimiter("Name;Phone\n") == ";"


def test_quoted_fields_with_delimiters_quotes_and_newlines(tmp_path: Path) -> None:
    content = (
        "Name,Phone,Notes\r\n"
        '"Doe, Jane",2125550123,"She said ""call me"", then\r\nhung up"\r\n'
        '"O\'Brien",2125550124,"a,b,c"\r\n'
    )
    info = inspect_file(_write(tmp_path, content))
    rows = _rows(info)
    assert [r.row_number for r in rows] == [1, 2]
    assert rows[0].values == {
        "full_name": "Doe, Jane",
        "phone_number": "2125550123",
        "notes": 'She said "call me", then\r\nhung up',
    }
    assert rows[1].values["full_name"] == "O'Brien"
    assert rows[1].values["notes"] == "a,b,c"


def test_cells_are_stripped_in_values_not_in_raw(tmp_path: Path) -> None:
    info = inspect_file(_write(tmp_path, " Phone , Name \n 2125550123 ,  Jane  \n"))
    assert info.headers == ["Phone", "Name"]
    [row] = _rows(info)
    assert row.values == {"phone_number": "2125550123", "full_name": "Jane"}
    assert row.raw == {"Phone": " 2125550123 ", "Name": "  Jane  "}


def test_utf8_bom(tmp_path: Path) -> None:
    path = _write(tmp_path, b"\xef\xbb\xbfPhone,First Name\n2125550123,Zo\xc3\xab\n")
    info = inspect_file(path)
    assert info.encoding == "utf-8-sig"
    assert info.headers == ["Phone", "First Name"]  # no BOM glued to the first header
    assert _rows(info)[0].values["first_name"] == "Zoë"


def test_cp1252(tmp_path: Path) -> None:
    path = _write(tmp_path, b"Phone;First Name\n2125550123;Jos\xe9\n2125550124;\x93Bob\x94\n")
    info = inspect_file(path)
    assert info.encoding == "cp1252"
    rows = _rows(info)
    assert rows[0].values["first_name"] == "José"
    assert rows[1].values["first_name"] == "\u201cBob\u201d"


def test_byte_invalid_in_cp1252_falls_back_to_latin1(tmp_path: Path) -> None:
    path = _write(tmp_path, b"Phone,First Name\n2125550123,Jos\xe9\x81\n")
    info = inspect_file(path)
    assert info.encoding == "latin-1"
    assert _rows(info)[0].values["first_name"] == "José\x81"


def test_utf8_multibyte_across_read_blocks(tmp_path: Path) -> None:
    # a 2-byte character straddling the 1 MiB block boundary is still valid UTF-8
    data = b"Phone,Notes\n"
    line = b"2125550123," + b"a" * 1000 + b"\n"
    while len(data) + len(line) < (1 << 20) - 100:
        data += line
    data += b"2125550123," + b"b" * ((1 << 20) - len(data) - 12) + "é\n".encode()
    assert data[(1 << 20) - 1 : (1 << 20) + 1] == "é".encode()
    info = inspect_file(_write(tmp_path, data))
    assert info.encoding == "utf-8"
    assert _rows(info)[-1].values["notes"].endswith("bé")


@pytest.mark.parametrize("content", [b"", b"   \n\r\n\t  \n", b"\xef\xbb\xbf\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(FileFormatError, match="is empty"):
        inspect_file(_write(tmp_path, content))


def test_header_only_is_zero_rows_not_an_error(tmp_path: Path) -> None:
    info = inspect_file(_write(tmp_path, "Phone,Name\n"))
    assert info.headers == ["Phone", "Name"]
    assert list(iter_rows(info)) == []


def test_no_phone_column_says_how_to_map_one_without_quoting_the_file(tmp_path: Path) -> None:
    """The header row is the file's content (for a file that is no lead file, e.g. the first
    line of /etc/passwd): the message counts the headers instead of quoting them."""
    path = _write(tmp_path, "Name,Number,Email\nJane,2125550123,j@x.com\n")
    with pytest.raises(FileFormatError) as caught:
        inspect_file(path)
    message = str(caught.value)
    assert "Number" not in message and "Email" not in message
    assert "none of its 3 header(s) is a phone header" in message
    assert "mapping file" in message
    assert "phone_number" in message


def test_binary_garbage_is_rejected(tmp_path: Path) -> None:
    data = bytes(random.Random(1).randrange(256) for _ in range(50_000)) + b"\x00\x00"
    with pytest.raises(FileFormatError, match=r"is not a CSV or XLSX file \(binary content\)"):
        inspect_file(_write(tmp_path, data, "leads.csv"))


def test_zip_that_is_not_a_workbook_is_rejected(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "leads.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.txt", "hello" * 100)
    with pytest.raises(FileFormatError, match="binary content"):
        inspect_file(path)


def test_corrupt_xlsx_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, b"PK\x03\x04" + b"\x00garbage" * 100, "leads.xlsx")
    with pytest.raises(FileFormatError, match="not a readable XLSX"):
        inspect_file(path)


def test_legacy_xls_and_utf16_get_a_helpful_message(tmp_path: Path) -> None:
    xls = _write(tmp_path, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "leads.xls")
    with pytest.raises(FileFormatError, match=r"legacy Excel \(.xls\)"):
        inspect_file(xls)
    utf16 = _write(tmp_path, "Phone,Name\n2125550123,Jane\n".encode("utf-16"), "u16.csv")
    with pytest.raises(FileFormatError, match="UTF-16"):
        inspect_file(utf16)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match=str(tmp_path / "nope.csv")):
        inspect_file(tmp_path / "nope.csv")
    with pytest.raises(FileFormatError, match="is a directory"):
        inspect_file(tmp_path)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "Phone\n1\n")

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tabular, "open", denied, raising=False)  # root ignores chmod 0
    with pytest.raises(FileFormatError, match="cannot be read \\(Permission denied\\)"):
        inspect_file(path)


# --- streaming rows --------------------------------------------------------------------


def test_chunking(tmp_path: Path) -> None:
    content = "Phone\n" + "".join(f"212555000{i}\n" for i in range(1, 6))
    info = inspect_file(_write(tmp_path, content))
    chunks = list(iter_rows(info, chunk_size=2))
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert [r.row_number for c in chunks for r in c] == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError):
        next(iter_rows(info, chunk_size=0))


def test_empty_lines_are_skipped_not_counted(tmp_path: Path) -> None:
    content = "\n\nPhone,Name\n\n2125550001,A\n\n,\n   \n2125550002,B\n\n"
    info = inspect_file(_write(tmp_path, content))
    rows = _rows(info)
    assert [(r.row_number, r.values["full_name"]) for r in rows] == [(1, "A"), (2, "B")]


def test_ragged_rows_both_ways(tmp_path: Path) -> None:
    content = (
        "Phone,First,Last,Email,Source,Tags\n"
        "2125550001,A,B,a@x.com,fb,t\n"
        "2125550002,A,B,a@x.com,fb,t,EXTRA,MORE\n"
        "2125550003,A,B\n"
    )
    rows = _rows(inspect_file(_write(tmp_path, content)))
    assert rows[0].problem is None
    long_row, short_row = rows[1], rows[2]
    assert long_row.problem == RejectReason.RAGGED_ROW
    assert long_row.detail == "8 cells, header has 6"
    assert long_row.raw["Tags"] == "t"
    assert long_row.raw["_extra_1"] == "EXTRA"
    assert long_row.raw["_extra_2"] == "MORE"
    assert short_row.problem == RejectReason.RAGGED_ROW
    assert short_row.detail == "3 cells, header has 6"
    assert short_row.raw == {"Phone": "2125550003", "First": "A", "Last": "B"}


def test_huge_field_quarantines_the_row_without_crashing(tmp_path: Path) -> None:
    huge = "x" * (10 * 1024 * 1024)
    content = f"Phone,Notes\n2125550001,ok\n2125550002,{huge}\n2125550003,fine\n"
    rows = _rows(inspect_file(_write(tmp_path, content)))
    assert [r.problem for r in rows] == [None, RejectReason.FIELD_TOO_LARGE, None]
    bad = rows[1]
    assert "'Notes'" in (bad.detail or "")
    assert str(len(huge)) in (bad.detail or "")
    assert bad.raw["Notes"] == "x" * 1000 + f"…[truncated, {len(huge)} chars]"
    assert bad.raw["Phone"] == "2125550002"
    assert bad.values == {}


def test_field_just_at_the_limit_is_fine(tmp_path: Path) -> None:
    content = f"Phone,Notes\n2125550001,{'y' * MAX_CELL_CHARS}\n"
    [row] = _rows(inspect_file(_write(tmp_path, content)))
    assert row.problem is None
    assert len(row.values["notes"]) == MAX_CELL_CHARS


def test_repeated_and_empty_headers_keep_every_cell_in_raw(tmp_path: Path) -> None:
    info = inspect_file(_write(tmp_path, "Phone,Phone,,Name\n2125550001,2125550002,z,Al\n"))
    assert info.mapping == {"Phone": "phone_number", "Name": "full_name"}
    [row] = _rows(info)
    assert row.values == {"phone_number": "2125550001", "full_name": "Al"}
    assert row.raw == {
        "Phone": "2125550001",
        "Phone (2)": "2125550002",
        "_column_3": "z",
        "Name": "Al",
    }


def test_file_deleted_between_inspect_and_iter(tmp_path: Path) -> None:
    path = _write(tmp_path, "Phone\n2125550001\n")
    info = inspect_file(path)
    path.unlink()
    with pytest.raises(FileFormatError, match="disappeared while being read"):
        list(iter_rows(info))


def test_file_changed_between_inspect_and_iter(tmp_path: Path) -> None:
    path = _write(tmp_path, "Phone\n2125550001\n")
    info = inspect_file(path)
    path.write_text("Phone\n2125550009\n")  # same size, other content
    with pytest.raises(FileFormatError, match="changed while being read"):
        list(iter_rows(info))
    path.write_text("Phone\n2125550001\n2125550002\n")
    with pytest.raises(FileFormatError, match="changed since it was inspected"):
        list(iter_rows(info))


def test_iteration_reads_the_file_lazily(tmp_path: Path) -> None:
    content = "Phone\n" + "".join(f"2125{i:06d}\n" for i in range(10_000))
    info = inspect_file(_write(tmp_path, content))
    chunks = iter_rows(info, chunk_size=100)
    first = next(chunks)
    assert len(first) == 100
    chunks.close()  # abandoning the iterator closes the file


# --- XLSX ------------------------------------------------------------------------------


def _xlsx(path: Path, rows: list[list[object]], sheet_title: str = "Leads") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet_title
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def test_xlsx_with_numeric_phones(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "leads.xlsx",
        [
            [None, None],
            ["First Name", "Cell", "Score", "Joined", "Day", "Active", None],
            ["Ann", 2125550123, 0.1 + 0.2, datetime(2026, 1, 2, 3, 4, 5), date(2026, 5, 6), True],
            ["Bob", 2125550124.0, 7.5, None, None, False],
            [None, None, None],
            ["Cy", "+1 212 555 0125"],
        ],
    )
    info = inspect_file(path)
    assert info.kind == "xlsx"
    assert info.encoding is None and info.delimiter is None
    assert info.headers == ["First Name", "Cell", "Score", "Joined", "Day", "Active"]
    assert info.mapping == {"First Name": "first_name", "Cell": "phone_number"}
    rows = _rows(info)
    assert [r.row_number for r in rows] == [1, 2, 3]
    assert rows[0].values == {"first_name": "Ann", "phone_number": "2125550123"}
    assert rows[0].raw == {
        "First Name": "Ann",
        "Cell": "2125550123",
        "Score": "0.3",
        "Joined": "2026-01-02T03:04:05",
        "Day": "2026-05-06T00:00:00",  # openpyxl stores dates as datetimes
        "Active": "TRUE",
    }
    assert rows[1].values["phone_number"] == "2125550124"  # not "2125550124.0"
    assert rows[1].raw["Score"] == "7.5"
    assert rows[2].values == {"first_name": "Cy", "phone_number": "+1 212 555 0125"}
    assert all(r.problem is None for r in rows)  # short rows are padded, not ragged


def test_xlsx_extra_cells_beyond_the_header_are_ragged(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "leads.xlsx", [["Phone", "Name"], ["2125550123", "Al", "surprise"]])
    [row] = _rows(inspect_file(path))
    assert row.problem == RejectReason.RAGGED_ROW
    assert row.detail == "3 cells, header has 2"
    assert row.raw["_extra_1"] == "surprise"


def test_xlsx_without_xlsx_suffix_is_detected(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "leads.xlsx", [["Phone"], [2125550123]])
    renamed = path.rename(tmp_path / "leads.dat")
    info = inspect_file(renamed)
    assert info.kind == "xlsx"
    assert _rows(info)[0].values == {"phone_number": "2125550123"}


def test_xlsx_empty_and_header_only(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="is empty"):
        inspect_file(_xlsx(tmp_path / "empty.xlsx", []))
    info = inspect_file(_xlsx(tmp_path / "header.xlsx", [["Phone", "Name"]]))
    assert list(iter_rows(info)) == []


def test_xlsx_changed_between_inspect_and_iter(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "leads.xlsx", [["Phone"], [2125550123]])
    info = inspect_file(path)
    _xlsx(path, [["Phone"], [2125550199]])
    with pytest.raises(FileFormatError, match="changed"):
        list(iter_rows(info))
    path.unlink()
    with pytest.raises(FileFormatError, match="disappeared"):
        list(iter_rows(info))


# --- the demo's sample files -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "encoding", "delimiter", "phone_header", "rows"),
    [
        ("leads_summit_facebook.csv", "csv", "utf-8", ",", "Phone", 1200),
        ("leads_northwind_mixed.csv", "csv", "cp1252", ";", "Mobile", 900),
        ("leads_multi_org.csv", "csv", "utf-8-sig", "\t", "Phone Number", 800),
        ("leads_southern_cross.xlsx", "xlsx", None, None, "Cell", 700),
    ],
)
def test_sample_files(
    name: str, kind: str, encoding: str | None, delimiter: str | None, phone_header: str, rows: int
) -> None:
    info = inspect_file(SAMPLES / name)  # committed files: a missing one must fail, not skip
    assert (info.kind, info.encoding, info.delimiter) == (kind, encoding, delimiter)
    assert info.mapping[phone_header] == "phone_number"
    assert info.unmapped == []
    read = _rows(info, chunk_size=333)
    assert len(read) == rows
    assert [r.row_number for r in read] == list(range(1, rows + 1))
    assert all(r.problem is None for r in read)
