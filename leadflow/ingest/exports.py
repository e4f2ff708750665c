"""What CRM exports say about a lead's status, in leadflow's words.

HubSpot, Salesforce, Pipedrive and Zoho exports carry a lead status (and HubSpot a lifecycle
stage) in their own vocabulary. `CRM_STATUS_TABLE` says, value by value, which leadflow status
each means; it is written out in full because every line is a decision someone should be
able to read and argue with. A value whose meaning is not clear maps to None: the lead then
gets no status from the file (a new lead starts as `new`) and the value is kept as written in
`CleanLead.crm_status`, so nothing the CRM knew is lost. A value found in no table is treated
the same way, and additionally noted (`invalid_status`), as before.

Matching ignores case, spaces, dashes and underscores, so the label an export writes ("Open
Deal", "Open - Not Contacted") and the internal value an API writes ("OPEN_DEAL",
"marketingqualifiedlead") are one key. The table is looked up through one precomputed dict;
`normalize_rows` memoizes per chunk, so a million-row file computes each distinct value once.
"""

from __future__ import annotations

import re

from leadflow.leads.records import LEAD_STATUSES

#: the longest CRM status kept (the check constraint on leads.crm_status allows 200)
MAX_CRM_STATUS_CHARS = 200

#: a status cell that only says "no value" (Zoho writes "-None-" for an empty picklist)
BLANK = ""

_KEY_JUNK_RE = re.compile(r"[\s\-_]+")

# (value as the CRM writes it, leadflow status: None when the meaning is not clear, BLANK when
# the value means "empty", who writes it and why). Funnel order of leadflow's statuses: new <
# cold < contacted < qualified < nurturing < hot < recruited; dnc is terminal.
CRM_STATUS_TABLE: tuple[tuple[str, str | None, str], ...] = (
    # do-not-call spellings (as before): losing one is a compliance problem
    ("Do Not Call", "dnc", "leadflow: spelled out"),
    # HubSpot lead status (hs_lead_status; exports write the label, the API the value)
    ("New", "new", "HubSpot NEW, Salesforce (newer picklist)"),
    ("Open", "new", "HubSpot OPEN: assigned, not worked yet"),
    ("In Progress", "contacted", "HubSpot IN_PROGRESS: being worked"),
    ("Attempted to Contact", "contacted", "HubSpot ATTEMPTED_TO_CONTACT, Zoho: outreach made"),
    ("Connected", "contacted", "HubSpot CONNECTED: reached"),
    ("Open Deal", "qualified", "HubSpot OPEN_DEAL: a deal is open for them"),
    ("Unqualified", "cold", "HubSpot UNQUALIFIED, Salesforce: not a fit"),
    ("Bad Timing", "nurturing", "HubSpot BAD_TIMING: interested, not now"),
    # HubSpot lifecycle stage (lifecyclestage)
    ("Subscriber", "new", "HubSpot: only opted in to content"),
    ("Lead", "new", "HubSpot: a lead, nothing more yet"),
    ("Marketing Qualified Lead", "qualified", "HubSpot marketingqualifiedlead"),
    ("MQL", "qualified", "abbreviation of the above"),
    ("Sales Qualified Lead", "qualified", "HubSpot salesqualifiedlead"),
    ("SQL", "qualified", "abbreviation of the above"),
    ("Opportunity", "hot", "HubSpot: in an active deal, close to converting"),
    ("Customer", "recruited", "HubSpot: the deal was won"),
    ("Evangelist", None, "HubSpot: a customer who promotes; no lead status"),
    ("Other", None, "HubSpot: says nothing"),
    # Salesforce Lead Status (the classic default picklist; API value = label)
    ("Open - Not Contacted", "new", "Salesforce: not worked yet"),
    ("Working - Contacted", "contacted", "Salesforce: being worked"),
    ("Closed - Converted", "recruited", "Salesforce: converted, the lead's win state"),
    ("Closed - Not Converted", "cold", "Salesforce: closed without converting"),
    # Salesforce Lead Status (the newer default picklist: New, Working, Nurturing, Qualified,
    # Unqualified); Nurturing and Qualified are leadflow's own words
    ("Working", "contacted", "Salesforce: being worked"),
    # Zoho CRM Lead Status (default picklist)
    ("Not Contacted", "new", "Zoho: not worked yet"),
    ("Contact in Future", "nurturing", "Zoho: interested, not now"),
    ("Pre-Qualified", "qualified", "Zoho: the last step before conversion"),
    ("Not Qualified", "cold", "Zoho: not a fit"),
    ("Lost Lead", "cold", "Zoho: gone"),
    ("Junk Lead", "cold", "Zoho: not a real prospect; cold, never worked as new"),
    ("-None-", BLANK, "Zoho: the empty picklist value"),
)


def status_key(value: str) -> str:
    """The matching key of a status: "Open - Not Contacted" and "OPEN_NOT_CONTACTED" ->
    "opennotcontacted" (case, spaces, dashes and underscores ignored, nothing else)."""
    return _KEY_JUNK_RE.sub("", value.lower())


def _build() -> dict[str, str | None]:
    table: dict[str, str | None] = {status_key(status): status for status in LEAD_STATUSES}
    for spelling, status, _ in CRM_STATUS_TABLE:
        key = status_key(spelling)
        if key in table and table[key] != status:  # a typo in the table, caught at import
            raise ValueError(f"CRM status {spelling!r} maps to both {table[key]} and {status}")
        table[key] = status
    return table


#: status_key -> leadflow status; None: a known value of unclear meaning; BLANK: "no value".
#: A key that is absent is an unknown value.
CRM_STATUSES: dict[str, str | None] = _build()
