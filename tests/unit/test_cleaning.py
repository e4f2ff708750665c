"""Field cleaning: names, e-mails, companies, tags, formula screening and lead sources."""

from __future__ import annotations

import pytest

from leadflow.leads.cleaning import (
    BUILTIN_SOURCE_ALIASES,
    MAX_COMPANY_CHARS,
    SourceMapper,
    clean_company,
    clean_email,
    clean_name,
    clean_tags,
    inverted_caps,
    looks_like_formula,
    split_full_name,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Jane  ", "Jane"),
        ("Mary   Ann", "Mary Ann"),
        ("MARY ANN", "Mary Ann"),
        ("mary ann", "Mary Ann"),
        ("O'BRIEN", "O'Brien"),
        ("o'brien", "O'Brien"),
        ("O’NEILL", "O’Neill"),
        ("JEAN-LUC", "Jean-Luc"),
        ("jean-luc", "Jean-Luc"),
        ("mcdonald", "Mcdonald"),
        ("McDonald", "McDonald"),
        ("DeShawn", "DeShawn"),
        ("van der Berg", "van der Berg"),
        ("JOSÉ", "José"),
        ("zoë", "Zoë"),
        ("MÜLLER", "Müller"),
        ("Müller", "Müller"),
        ("J.R.", "J.R."),
        ("j.r.", "J.R."),
        ("3RD", "3rd"),
        ("", ""),
        ("   ", ""),
        ("\tAnna\n", "Anna"),
    ],
)
def test_clean_name(raw: str, expected: str) -> None:
    assert clean_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # caps lock on: the case swapped back
        ("mARCUS", "Marcus"),
        ("oMAR", "Omar"),
        ("bERNERS-lEE", "Berners-Lee"),
        ("mARCUS Hamilton", "Marcus Hamilton"),
        ("mARCUS hAMILTON", "Marcus Hamilton"),
        ("  mARCUS   hAMILTON ", "Marcus Hamilton"),
        ("mCdONALD", "McDonald"),
        ("mACkENZIE", "MacKenzie"),
        ("o'nEIL", "O'Neil"),
        ("o’nEIL", "O’Neil"),
        ("dEvRIES", "DeVries"),
        ("jEAN-lUC", "Jean-Luc"),
        ("jOSÉ", "José"),
        ("mÜLLER", "Müller"),
        ("aL", "Al"),
        ("j.R.", "J.R."),
        # swapping back would give two capitals in a row: re-cased as an all-caps word
        ("vanDER", "Vander"),
        ("mARCUS-Ann", "Marcus-Ann"),
        ("d'ANGELO", "D'Angelo"),
        # only the inverted word changes
        ("van mARCUS", "van Marcus"),
        ("McDonald oMAR", "McDonald Omar"),
        # real mixed case survives
        ("McDonald", "McDonald"),
        ("O'Neil", "O'Neil"),
        ("DeVries", "DeVries"),
        ("deVries", "deVries"),
        ("van der Berg", "van der Berg"),
        ("MacKenzie", "MacKenzie"),
        ("d'Angelo", "d'Angelo"),
        ("de la Cruz", "de la Cruz"),
        ("al-Hassan", "al-Hassan"),
        ("DeShawn", "DeShawn"),
        ("Jean-Luc", "Jean-Luc"),
        ("Berners-Lee", "Berners-Lee"),
        ("McDonald SMITH", "McDonald SMITH"),
        # not letters enough to tell
        ("x", "X"),
        ("x Y", "x Y"),
        ("sTRAßE", "Straße"),
    ],
)
def test_clean_name_inverted_caps(raw: str, expected: str) -> None:
    assert clean_name(raw) == expected


@pytest.mark.parametrize(
    ("word", "inverted"),
    [
        ("mARCUS", True),
        ("oMAR", True),
        ("bERNERS-lEE", True),
        ("mCdONALD", True),
        ("aL", True),
        ("Marcus", False),
        ("MARCUS", False),
        ("marcus", False),
        ("deVries", False),
        ("d'Angelo", False),
        ("iPhone", False),
        ("eBay", False),
        ("a", False),
        ("", False),
        ("123", False),
        ("'-.", False),
    ],
)
def test_inverted_caps(word: str, inverted: bool) -> None:
    assert inverted_caps(word) is inverted


def test_split_full_name_fixes_inverted_caps() -> None:
    assert split_full_name("mARCUS hAMILTON") == ("Marcus", "Hamilton")
    assert split_full_name("hAMILTON, mARCUS") == ("Marcus", "Hamilton")
    assert split_full_name("tIM bERNERS-lEE") == ("Tim", "Berners-Lee")


def test_sql_metacharacters_are_just_text() -> None:
    assert clean_name("Robert'); DROP TABLE leads;--") == "Robert'); DROP TABLE leads;--"
    assert clean_name("O'Brien") == "O'Brien"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jane Public", ("Jane", "Public")),
        ("Jane Q. Public", ("Jane", "Q. Public")),
        ("Public, Jane", ("Jane", "Public")),
        ("PUBLIC, JANE", ("Jane", "Public")),
        ("  jane   public  ", ("Jane", "Public")),
        ("Cher", ("Cher", "")),
        ("Public,", ("Public", "")),
        (", Jane", ("Jane", "")),
        ("", ("", "")),
        ("José García López", ("José", "García López")),
    ],
)
def test_split_full_name(raw: str, expected: tuple[str, str]) -> None:
    assert split_full_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("john@example.com", "john@example.com"),
        ("  John.Doe@Example.COM ", "john.doe@example.com"),
        ("first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("user_name-1@my-domain.org", "user_name-1@my-domain.org"),
        ("mailto:jane@example.com", "jane@example.com"),
        ("jose@correo.españa.es", "jose@correo.españa.es"),
        ("a@xn--bcher-kva.example", "a@xn--bcher-kva.example"),
    ],
)
def test_clean_email_valid(raw: str, expected: str) -> None:
    assert clean_email(raw) == (expected, None)


@pytest.mark.parametrize(
    "raw",
    [
        "john@",
        "no-at-sign.com",
        "a@@example.com",
        "a@b@example.com",
        "@example.com",
        "john@example",
        "john doe@example.com",
        "john@exam ple.com",
        "john@-example.com",
        "john@example-.com",
        "john@example..com",
        ".john@example.com",
        "john.@example.com",
        "jo..hn@example.com",
        "john@example.c",
        "john@example.123",
        "john@exa_mple.com",
        "<john@example.com>",
        "x" * 65 + "@example.com",
    ],
)
def test_clean_email_invalid(raw: str) -> None:
    assert clean_email(raw) == (None, f"invalid_email: {raw}")


def test_clean_email_invalid_note_keeps_the_original_trimmed() -> None:
    assert clean_email("  JOHN@  ") == (None, "invalid_email: JOHN@")


@pytest.mark.parametrize("raw", ["", "   ", "\t"])
def test_clean_email_empty(raw: str) -> None:
    assert clean_email(raw) == (None, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("VIP; hot", ["vip", "hot"]),
        ("nurse|Night  Shift|nurse", ["nurse", "night shift"]),
        ("remote, contract,", ["remote", "contract"]),
        ("relocation | VIP,", ["relocation", "vip"]),
        ("a;b,c|d", ["a", "b", "c", "d"]),
        ("Hot, hot, HOT", ["hot"]),
        ("über-keen|Café Staff", ["über-keen", "café staff"]),
        (" ; , | ", []),
        ("", []),
    ],
)
def test_clean_tags(raw: str, expected: list[str]) -> None:
    assert clean_tags(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "=1+1",
        '=HYPERLINK("http://evil","x")',
        "=cmd|' /C calc'!A0",
        "+cmd|' /C calc'!A0",
        "-2+3=1",
        "-SUM(A1:A2)",
        "@SUM(A1)",
        "+A1!B2",
        "\t=1+1",
        "\r=1+1",
        "\t+cmd|x",
        "\t\r@SUM(1)",
    ],
)
def test_formulas_detected(raw: str) -> None:
    assert looks_like_formula(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "Jane",
        "+44 20 7123 4567",
        "- no answer",
        "-",
        "@home",
        "+1",
        "call back (after 5)",
        "- called back (left vm)",
        "+ follow up (Tue)",
        "a=b",
        "\tplain",
        "Robert'); DROP TABLE leads;--",
    ],
)
def test_not_formulas(raw: str) -> None:
    assert not looks_like_formula(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("fb", "facebook"),
        ("FB", "facebook"),
        ("Facebook Ads", "facebook"),
        ("FACEBOOK", "facebook"),
        ("FB Lead Ads", "facebook"),
        ("facebook-lead-ads", "facebook"),
        ("FacebookAds", "facebook"),
        ("Meta", "facebook"),
        ("Instagram", "instagram"),
        ("LinkedIn", "linkedin"),
        ("Linked In", "linkedin"),
        ("li", "linkedin"),
        ("Indeed.com", "indeed"),
        ("Google Ads", "google"),
        ("AdWords", "google"),
        ("Employee Referral", "referral"),
        ("referred", "referral"),
        ("Web Form", "website"),
        ("Landing-Page", "website"),
        ("organic", "website"),
        ("Career Fair", "job_fair"),
        ("job_fair", "job_fair"),
        ("JobFair", "job_fair"),
        ("Zip Recruiter", "ziprecruiter"),
        ("Craigslist", "craigslist"),
        ("TikTok", "tiktok"),
        ("X", "twitter"),
        ("Newsletter", "email"),
        ("Email Campaign", "email"),
        ("Cold Call", "cold_call"),
        ("outbound", "cold_call"),
        ("Event", "event"),
        ("  Twitter  ", "twitter"),
    ],
)
def test_builtin_sources(raw: str, expected: str) -> None:
    assert SourceMapper().canonical(raw) == expected


def test_unknown_source_becomes_a_slug() -> None:
    mapper = SourceMapper()
    assert mapper.canonical("Import - legacy CRM") == "import_legacy_crm"
    assert mapper.canonical("Seek.com.au") == "seek_com_au"
    assert mapper.canonical("Página Web!") == "página_web"
    slug = mapper.canonical("A very long source name " * 5)
    assert slug is not None
    assert len(slug) <= 50
    assert not slug.endswith("_")


@pytest.mark.parametrize("raw", ["", "   ", "???", "--"])
def test_empty_source_is_none(raw: str) -> None:
    assert SourceMapper().canonical(raw) is None


def test_extra_aliases_override_builtins() -> None:
    mapper = SourceMapper({"FB": "Meta Ads", "Seek": "seek", "walk in": "walk_in"})
    assert mapper.canonical("fb") == "meta_ads"
    assert mapper.canonical("F.B.") == "meta_ads"
    assert mapper.canonical("Facebook") == "facebook"  # other built-ins untouched
    assert mapper.canonical("SEEK") == "seek"
    assert mapper.canonical("Walk-In") == "walk_in"


def test_builtin_aliases_are_exposed() -> None:
    assert BUILTIN_SOURCE_ALIASES["fb"] == "facebook"
    assert BUILTIN_SOURCE_ALIASES["indeed.com"] == "indeed"
    assert "instagram" not in {k for k, v in BUILTIN_SOURCE_ALIASES.items() if v == "facebook"}
    assert set(BUILTIN_SOURCE_ALIASES.values()) >= {
        "facebook",
        "linkedin",
        "indeed",
        "google",
        "referral",
        "website",
        "job_fair",
        "craigslist",
        "ziprecruiter",
        "instagram",
        "tiktok",
        "twitter",
        "email",
        "cold_call",
        "event",
    }


def test_source_mapper_cache_gives_the_same_answers() -> None:
    mapper = SourceMapper()
    first = [mapper.canonical(v) for v in ("fb", "Seek", "", "fb", "Seek")]
    assert first == ["facebook", "seek", None, "facebook", "seek"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Acme Logistics", "Acme Logistics"),
        ("  Mercy   General\tHospital \n", "Mercy General Hospital"),
        ("IBM", "IBM"),  # case kept: brands are not names to re-case
        ("eBay", "eBay"),
        ("acme corp", "acme corp"),
        ('Fabrikam, Inc. "West"', 'Fabrikam, Inc. "West"'),
        ("", None),
        ("   ", None),
    ],
)
def test_clean_company(raw: str, expected: str | None) -> None:
    assert clean_company(raw) == expected


def test_clean_company_is_cut_to_what_the_column_allows() -> None:
    company = clean_company("Acme " * 300)
    assert company is not None
    assert len(company) <= MAX_COMPANY_CHARS
    assert company == company.strip()


@pytest.mark.parametrize(
    "raw", ["Referrals", "Partner Referral", "External Referral", "Employee Referral"]
)
def test_crm_referral_sources(raw: str) -> None:
    """HubSpot's "Referrals", Salesforce's "Partner Referral", Zoho's "External Referral"."""
    assert SourceMapper().canonical(raw) == "referral"
