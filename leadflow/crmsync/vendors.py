"""What each CRM vendor's API looks like to leadflow: pure data and pure functions.

Per vendor: where its records land (raw schema and table), how a raw record becomes the
canonical fields of a lead file (one shared mapping: the rows then take the very same
normalize -> dedupe -> DNC -> load path as files), how the dlt `rest_api` source is configured
(endpoints, paginators, incremental cursor), and what a push writes back.

The contracts, as the vendors document them:
- HubSpot CRM v3 contacts: `GET /crm/v3/objects/contacts` (limit, after, properties) for the
  first load; then `POST /crm/v3/objects/contacts/search` filtered on lastmodifieddate (epoch
  milliseconds) for the changes; `POST /crm/v3/objects/contacts/batch/update` (100 a call).
- Salesforce REST: `GET /services/data/vXX.X/query?q=SOQL` on Lead, pages by nextRecordsUrl,
  changes by `SystemModstamp >= …`; `PATCH …/composite/sobjects` (200 a call).
- Pipedrive v1: `GET /v1/persons` (start, limit, more_items_in_collection) for the first load,
  `GET /v1/recents?items=person&since_timestamp=…` for the changes; `PUT /v1/persons/{id}`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from leadflow.ingest.extras import MAX_EXTRA_VALUE_CHARS
from leadflow.leads.records import RawRow

if TYPE_CHECKING:
    from dlt.common.schema.typing import TColumnSchema, TDataType, TSchemaContractDict
    from dlt.sources.rest_api.typing import (
        ClientConfig,
        Endpoint,
        EndpointResource,
        IncrementalConfig,
        PaginatorConfig,
        RESTAPIConfig,
    )

VENDORS = ("hubspot", "salesforce", "pipedrive")

#: the first cursor of an incremental pull: everything
EPOCH = "1970-01-01T00:00:00Z"

HUBSPOT_PROPERTIES = (
    "firstname",
    "lastname",
    "email",
    "phone",
    "mobilephone",
    "company",
    "hs_lead_status",
    "lifecyclestage",
    "hs_analytics_source",
    "hubspot_owner_id",
    "createdate",
    "lastmodifieddate",
)
SALESFORCE_FIELDS = (
    "Id",
    "FirstName",
    "LastName",
    "Email",
    "Phone",
    "MobilePhone",
    "Company",
    "Status",
    "LeadSource",
    "OwnerId",
    "DoNotCall",
    "CreatedDate",
    "SystemModstamp",
)
DEFAULT_SALESFORCE_API = "v60.0"


@dataclass(frozen=True)
class VendorSpec:
    vendor: str
    raw_schema: str  # PostgreSQL schema (dlt dataset) of the raw records
    raw_table: str  # table (dlt resource) of the raw records
    id_field: str  # the record's id, as the raw table names it
    modified_field: str  # the record's modification time, as the raw table names it
    #: canonical lead field -> the raw column it is read from (a RawRow's `headers`)
    fields: Mapping[str, str]
    #: where leadflow writes back, unless the connection's options say otherwise
    push_fields: Mapping[str, str]
    batch_size: int  # records per push call


SPECS: dict[str, VendorSpec] = {
    "hubspot": VendorSpec(
        vendor="hubspot",
        raw_schema="raw_hubspot",
        raw_table="contacts",
        id_field="id",
        modified_field="updated_at",
        fields={
            "first_name": "firstname",
            "last_name": "lastname",
            "email": "email",
            "phone_number": "phone",
            "mobile_phone": "mobilephone",
            "company": "company",
            "status": "hs_lead_status",
            "lifecycle_stage": "lifecyclestage",
            "source": "hs_analytics_source",
            "user_id": "hubspot_owner_id",
        },
        push_fields={"status": "leadflow_status", "score": "leadflow_score", "dnc": "leadflow_dnc"},
        batch_size=100,
    ),
    "salesforce": VendorSpec(
        vendor="salesforce",
        raw_schema="raw_salesforce",
        raw_table="leads",
        id_field="id",
        modified_field="system_modstamp",
        fields={
            "first_name": "first_name",
            "last_name": "last_name",
            "email": "email",
            "phone_number": "phone",
            "mobile_phone": "mobile_phone",
            "company": "company",
            "status": "status",
            "source": "lead_source",
            "user_id": "owner_id",
        },
        push_fields={
            "status": "Leadflow_Status__c",
            "score": "Leadflow_Score__c",
            "dnc": "DoNotCall",
        },
        batch_size=200,
    ),
    "pipedrive": VendorSpec(
        vendor="pipedrive",
        raw_schema="raw_pipedrive",
        raw_table="persons",
        id_field="id",
        modified_field="update_time",
        fields={
            "first_name": "first_name",
            "last_name": "last_name",
            "full_name": "name",
            "email": "email",
            "phone_number": "phone",
            "mobile_phone": "phone",
            "company": "org_name",
            "user_id": "owner_id",
        },
        push_fields={"status": "leadflow_status", "score": "leadflow_score", "dnc": "leadflow_dnc"},
        batch_size=1,
    ),
}


#: What a raw table keeps of a record, whatever else the CRM answers: the fields the mapping
#: reads, the record's id and modification time, as (API key, raw column, dlt data type); every
#: row also gets connection_id and organization_id. One tenant's custom fields (a candidate's
#: sensitive notes, Pipedrive's per-account 40-hex keys) never become columns of the shared
#: table. Migration 013 creates the tables with exactly these columns.
RAW_FIELDS: dict[str, tuple[tuple[str, str, TDataType], ...]] = {
    "hubspot": (
        ("id", "id", "text"),
        ("updatedAt", "updated_at", "timestamp"),
        ("firstname", "firstname", "text"),
        ("lastname", "lastname", "text"),
        ("email", "email", "text"),
        ("phone", "phone", "text"),
        ("mobilephone", "mobilephone", "text"),
        ("company", "company", "text"),
        ("hs_lead_status", "hs_lead_status", "text"),
        ("lifecyclestage", "lifecyclestage", "text"),
        ("hs_analytics_source", "hs_analytics_source", "text"),
        ("hubspot_owner_id", "hubspot_owner_id", "text"),
        # the connection's keep_properties (custom properties): one JSON object, never columns
        ("extra_properties", "extra_properties", "json"),
    ),
    "salesforce": (
        ("Id", "id", "text"),
        ("SystemModstamp", "system_modstamp", "timestamp"),
        ("FirstName", "first_name", "text"),
        ("LastName", "last_name", "text"),
        ("Email", "email", "text"),
        ("Phone", "phone", "text"),
        ("MobilePhone", "mobile_phone", "text"),
        ("Company", "company", "text"),
        ("Status", "status", "text"),
        ("LeadSource", "lead_source", "text"),
        ("OwnerId", "owner_id", "text"),
        ("DoNotCall", "do_not_call", "bool"),
    ),
    "pipedrive": (
        ("id", "id", "bigint"),
        ("update_time", "update_time", "timestamp"),
        ("name", "name", "text"),
        ("first_name", "first_name", "text"),
        ("last_name", "last_name", "text"),
        ("phone", "phone", "json"),
        ("email", "email", "json"),
        ("org_name", "org_name", "text"),
        ("owner_id", "owner_id", "json"),
    ),
}
#: the columns every raw row carries besides its record's fields
TAG_COLUMNS = ("connection_id", "organization_id")
#: dlt's schema contract of the raw tables: the declared columns only. A key nobody declared is
#: dropped (its value, the row is kept), and so is a value of another type than its column's.
RAW_CONTRACT: TSchemaContractDict = {
    "tables": "evolve",
    "columns": "discard_value",
    "data_type": "discard_value",
}


def raw_columns(vendor: str) -> dict[str, TColumnSchema]:
    """The dlt column hints of a vendor's raw table: every kept column, typed, by its API key
    (dlt names the column: updatedAt -> updated_at), as the cursor and primary key name it."""
    columns: dict[str, TColumnSchema] = {
        key: {"data_type": data_type, "nullable": column != "id"}
        for key, column, data_type in RAW_FIELDS[spec(vendor).vendor]
    }
    for column in TAG_COLUMNS:
        columns[column] = {"data_type": "text", "nullable": True}
    return columns


class UnknownVendor(ValueError):
    pass


def spec(vendor: str) -> VendorSpec:
    try:
        return SPECS[vendor]
    except KeyError:
        raise UnknownVendor(f"unknown CRM vendor {vendor!r}: one of {', '.join(VENDORS)}") from None


# -- raw record -> canonical fields ------------------------------------------------------------
def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else ""
    return str(value).strip()


def _pipedrive_values(items: Any, keep_empty: bool = False) -> list[tuple[str, str, bool]]:
    """A Pipedrive phone/email list as (label, value, primary), the empty ones left out unless
    `keep_empty`."""
    if isinstance(items, str):  # an old API version wrote a single value
        return [("", items.strip(), True)] if items.strip() or keep_empty else []
    found = []
    for item in items or []:
        if isinstance(item, Mapping) and (keep_empty or _text(item.get("value"))):
            found.append(
                (
                    _text(item.get("label")).lower(),
                    _text(item.get("value")),
                    bool(item.get("primary")),
                )
            )
    return found


def _pipedrive_phones(items: Any) -> tuple[str, str]:
    """(phone, mobile): the primary number (else the first), and the first other number
    labelled mobile. The mobile is the phone's fallback, as in an export: a person whose
    primary number is empty gets the mobile, and the lead says so (phone_source). With no
    mobile, the first other number stands in for an empty primary."""
    numbers = _pipedrive_values(items, keep_empty=True)
    if not numbers:
        return "", ""
    main = next((n for n in numbers if n[2]), numbers[0])
    others = [n for n in numbers if n is not main and n[1]]
    mobile = next((n for n in others if n[0] == "mobile"), None)
    if not main[1] and mobile is None and others:
        main = others.pop(0)
    return main[1], mobile[1] if mobile else ""


def _owner(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("id")
    return _text(value)


def canonical_values(
    vendor: str, record: Mapping[str, Any], owners: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A raw record (columns as the raw table names them) as the canonical fields of a lead
    file row. The vendor's owner id becomes a leadflow user through the connection's `owners`
    map, whose values are user ids or e-mails (an unmapped owner is left out: the lead stays
    unowned, and raw_row notes it); a Salesforce DoNotCall flag
    makes the status `dnc`."""
    vendor_spec = spec(vendor)
    values: dict[str, str] = {}
    for canonical, column in vendor_spec.fields.items():
        if canonical != "user_id":  # an owner is mapped below, never taken as it is
            values[canonical] = _text(record.get(column))
    if vendor == "pipedrive":  # lists of {label, value, primary}: the values set above
        values["phone_number"], values["mobile_phone"] = _pipedrive_phones(record.get("phone"))
        emails = _pipedrive_values(record.get("email"))
        values["email"] = next((e[1] for e in emails if e[2]), emails[0][1] if emails else "")
        if values.get("first_name") or values.get("last_name"):
            values.pop("full_name", None)
    owner = _owner(record.get(vendor_spec.fields["user_id"]))
    values["user_id"] = (owners or {}).get(owner, "") if owner else ""
    if vendor == "salesforce" and record.get("do_not_call") in (True, "true", "True"):
        values["status"] = "dnc"
    return {k: v for k, v in values.items() if v}


def external_id(vendor: str, record: Mapping[str, Any]) -> str:
    return _text(record.get(spec(vendor).id_field))


def raw_row(
    vendor: str,
    number: int,
    record: Mapping[str, Any],
    owners: Mapping[str, str] | None = None,
    *,
    notes_property: str | None = None,
) -> RawRow:
    """A raw record as a RawRow of the import path: `raw` (kept with a quarantined row) is the
    record's own columns, `headers` names the vendor field each canonical field came from (so
    a lead whose phone came from the mobile says which)."""
    vendor_spec = spec(vendor)
    raw = {
        key: _text(value) if not isinstance(value, (list, dict)) else value
        for key, value in record.items()
        if not key.startswith("_dlt")
    }
    headers = dict(vendor_spec.fields)
    if vendor == "pipedrive":
        headers["mobile_phone"] = "phone (mobile)"
    # an owner the connection's map does not name leaves the lead unowned: a row note says so
    owner = _owner(record.get(vendor_spec.fields["user_id"]))
    notes = [f"owner_not_mapped: {owner[:200]}"] if owner and owner not in (owners or {}) else None
    values = canonical_values(vendor, record, owners)
    extra = _extra(record)
    if extra and notes_property and notes_property in extra:  # the lead's note, not a field
        extra = dict(extra)
        note = _text(extra.pop(notes_property))
        if note:
            values["notes"] = note
            headers["notes"] = notes_property
    return RawRow(number, values, raw, headers=headers, extra=extra or None, notes=notes)


def _extra(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A record's properties beyond the mapped fields, when the pull kept them (the raw
    tables' extra_properties column: the connection's `keep_properties`)."""
    extra = record.get("extra_properties")
    return extra if isinstance(extra, Mapping) and extra else None


# -- dlt rest_api configuration -----------------------------------------------------------------
def _epoch_millis(value: Any) -> str:
    """A cursor value (ISO 8601 or datetime) as epoch milliseconds: HubSpot's search filters
    compare date-times that way."""
    moment = _as_datetime(value)
    return str(int(moment.timestamp() * 1000))


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip().replace("Z", "+00:00")
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":  # Salesforce: +0000
        text = text[:-2] + ":" + text[-2:]
    moment = datetime.fromisoformat(text.replace(" ", "T"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _soql_datetime(value: Any) -> str:
    """A cursor value as a SOQL date-time literal (UTC, milliseconds)."""
    return _as_datetime(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _pipedrive_time(value: Any) -> str:
    return _as_datetime(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _pipedrive_person(item: dict) -> dict:
    """/v1/recents wraps each person: {"item": "person", "id": …, "data": {person}}."""
    return item.get("data") or {} if "item" in item else item


def _keeper(
    vendor: str, connection_id: str, organization_id: str, kept: tuple[str, ...] = ()
) -> Callable[[dict], dict]:
    """The processing step of a raw record: only the RAW_FIELDS keys (a HubSpot contact's
    properties flattened beside its id), tagged with the connection and its organization; the
    `kept` properties (the connection's keep_properties) in one object, extra_properties,
    each value cut one character past the lead's cap (so the load still sees, and notes, a cut).
    """
    keys = [key for key, _, _ in RAW_FIELDS[vendor] if key != "extra_properties"]
    has_extra = len(keys) < len(RAW_FIELDS[vendor])

    def keep(record: dict) -> dict:
        if vendor == "pipedrive":
            record = _pipedrive_person(record)
        source = record
        if vendor == "hubspot":
            properties = record.get("properties")
            source = {
                **(properties if isinstance(properties, dict) else {}),
                "id": record.get("id"),
                "updatedAt": record.get("updatedAt"),
            }
        row = {key: source.get(key) for key in keys}
        if has_extra:
            extra = {
                name: str(source[name])[: MAX_EXTRA_VALUE_CHARS + 1]
                for name in kept
                if source.get(name) not in (None, "")
            }
            row["extra_properties"] = extra or None
        row["connection_id"] = connection_id
        row["organization_id"] = organization_id
        return row

    return keep


def rest_api_config(
    vendor: str,
    base_url: str,
    connection_id: str,
    organization_id: str,
    cursor: Any | None,
    *,
    session: Any = None,
    page_size: int | None = None,
    api_version: str | None = None,
    keep_properties: tuple[str, ...] = (),
) -> RESTAPIConfig:
    """The dlt `rest_api` configuration of one connection's pull.

    `cursor` is the incremental cursor dlt committed for this connection (None on the first
    pull): without one the vendor's list endpoint reads everything, with one the vendor's
    changes endpoint reads what changed since (inclusive: dlt drops the boundary records it
    has already seen). Records are appended to the raw table with the connection's and its
    organization's ids, only their RAW_FIELDS kept (and the table's columns frozen by the
    RAW_CONTRACT); the newest version of a record wins when the raw rows become leads.

    `session` (http.connection_session) sends every request: it holds the token and refuses
    any URL off the connection's API, so the configuration carries no credential.
    """
    vendor_spec = spec(vendor)
    base = base_url.rstrip("/")
    resource: EndpointResource = {
        "name": vendor_spec.raw_table,
        "write_disposition": "append",
        # the record's id as the API writes it: dlt's incremental drops the boundary records
        # it has seen by it (each connection has its own pipeline, so its own ids)
        "primary_key": "Id" if vendor == "salesforce" else "id",
        "max_table_nesting": 0,
        "columns": raw_columns(vendor),
        "schema_contract": RAW_CONTRACT,
        "processing_steps": [
            {"map": _keeper(vendor, connection_id, organization_id, keep_properties)}
        ],
    }
    client: ClientConfig = {"base_url": base}
    endpoint: Endpoint
    if session is not None:
        client["session"] = session
    if vendor == "hubspot":
        limit = min(page_size or 100, 100)
        properties = [
            *HUBSPOT_PROPERTIES,
            *(p for p in keep_properties if p not in HUBSPOT_PROPERTIES),
        ]
        incremental: IncrementalConfig = {"cursor_path": "updatedAt", "initial_value": EPOCH}
        if cursor is None:
            endpoint = {
                "path": "crm/v3/objects/contacts",
                "params": {
                    "limit": limit,
                    "properties": ",".join(properties),
                    "archived": "false",
                },
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "paging.next.after",
                    "cursor_param": "after",
                },
                "data_selector": "results",
                "incremental": incremental,
            }
        else:
            endpoint = {
                "path": "crm/v3/objects/contacts/search",
                "method": "POST",
                "json": {
                    "filterGroups": [
                        {
                            "filters": [
                                {
                                    "propertyName": "lastmodifieddate",
                                    "operator": "GTE",
                                    "value": "{incremental.start_value}",
                                }
                            ]
                        }
                    ],
                    "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                    "properties": properties,
                    "limit": limit,
                },
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "paging.next.after",
                    "cursor_body_path": "after",
                },
                "data_selector": "results",
                "incremental": {**incremental, "convert": _epoch_millis},
            }
    elif vendor == "salesforce":
        version = api_version or DEFAULT_SALESFORCE_API
        fields = ", ".join(SALESFORCE_FIELDS)
        where = "" if cursor is None else " WHERE SystemModstamp >= {incremental.start_value}"
        endpoint = {
            "path": f"services/data/{version}/query",
            "params": {"q": f"SELECT {fields} FROM Lead{where} ORDER BY SystemModstamp ASC"},
            "paginator": {"type": "json_link", "next_url_path": "nextRecordsUrl"},
            "data_selector": "records",
            "incremental": {
                "cursor_path": "SystemModstamp",
                "initial_value": EPOCH,
                **({} if cursor is None else {"convert": _soql_datetime}),
            },
        }
    elif vendor == "pipedrive":
        limit = min(page_size or 100, 500)
        paginator: PaginatorConfig = {
            "type": "offset",
            "limit": limit,
            "offset_param": "start",
            "limit_param": "limit",
            "total_path": None,
            "has_more_path": "additional_data.pagination.more_items_in_collection",
        }
        if cursor is None:
            endpoint = {
                "path": "v1/persons",
                "params": {"sort": "update_time ASC"},
                "paginator": paginator,
                "data_selector": "data",
                "incremental": {
                    "cursor_path": "update_time",
                    "initial_value": "1970-01-01 00:00:00",
                },
            }
        else:
            endpoint = {
                "path": "v1/recents",
                "params": {
                    "items": "person",
                    "since_timestamp": "{incremental.start_value}",
                },
                "paginator": paginator,
                "data_selector": "data",
                "incremental": {
                    "cursor_path": "update_time",
                    "initial_value": "1970-01-01 00:00:00",
                    "convert": _pipedrive_time,
                },
            }
    else:  # pragma: no cover - spec() refused it
        raise UnknownVendor(vendor)
    resource["endpoint"] = endpoint
    return {"client": client, "resources": [resource]}


# -- push -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PushItem:
    """What one CRM record should say: the lead's status, score and do-not-call flag."""

    external_id: str
    status: str
    score: int
    dnc: bool


def push_fields(vendor: str, options: Mapping[str, Any] | None = None) -> dict[str, str]:
    """status/score/dnc -> the CRM field written, the connection's options first."""
    chosen = dict(spec(vendor).push_fields)
    for key in ("status", "score", "dnc"):
        value = (options or {}).get(f"{key}_field")
        if value:
            chosen[key] = str(value)
    return chosen


def push_properties(vendor: str, item: PushItem, fields: Mapping[str, str]) -> dict[str, Any]:
    """The fields of one record's update, in the vendor's types: HubSpot properties are
    strings ("true"/"false" for a checkbox), Salesforce and Pipedrive take JSON types."""
    if vendor == "hubspot":
        return {
            fields["status"]: item.status,
            fields["score"]: str(item.score),
            fields["dnc"]: "true" if item.dnc else "false",
        }
    return {fields["status"]: item.status, fields["score"]: item.score, fields["dnc"]: item.dnc}


def push_request(
    vendor: str, items: list[PushItem], fields: Mapping[str, str], api_version: str | None = None
) -> tuple[str, str, Any]:
    """(method, path, JSON body) of one push call for `items` (at most the vendor's batch
    size): HubSpot batch update, Salesforce composite sObject update, Pipedrive person PUT."""
    vendor_spec = spec(vendor)
    if len(items) > vendor_spec.batch_size or not items:
        raise ValueError(f"{vendor} takes 1..{vendor_spec.batch_size} records a call")
    body: dict[str, Any]
    if vendor == "hubspot":
        body = {
            "inputs": [
                {"id": item.external_id, "properties": push_properties(vendor, item, fields)}
                for item in items
            ]
        }
        return "POST", "crm/v3/objects/contacts/batch/update", body
    if vendor == "salesforce":
        version = api_version or DEFAULT_SALESFORCE_API
        body = {
            "allOrNone": False,
            "records": [
                {
                    "attributes": {"type": "Lead"},
                    "id": item.external_id,
                    **push_properties(vendor, item, fields),
                }
                for item in items
            ],
        }
        return "PATCH", f"services/data/{version}/composite/sobjects", body
    (item,) = items
    path = f"v1/persons/{quote(item.external_id, safe='')}"  # the id is the CRM's: one segment
    return "PUT", path, push_properties(vendor, item, fields)


def push_failures(vendor: str, items: list[PushItem], status: int, body: Any) -> dict[str, str]:
    """external id -> why the CRM refused it, from one push call's answer (empty: all
    written). HubSpot answers 207 with errors naming ids, Salesforce a result per record in
    order, Pipedrive one status per call."""
    if vendor == "hubspot":
        if status in (200, 201):
            return {}
        failed: dict[str, str] = {}
        for error in (body or {}).get("errors", []) if isinstance(body, dict) else []:
            for record_id in (error.get("context") or {}).get("ids", []):
                failed[str(record_id)] = f"{error.get('category')}: {error.get('message')}"
        if status == 207:
            return failed
        return failed or {item.external_id: f"HTTP {status}: {body}" for item in items}
    if vendor == "salesforce":
        if status != 200 or not isinstance(body, list):
            return {item.external_id: f"HTTP {status}: {body}" for item in items}
        failed = {}
        for item, result in zip(items, body, strict=False):
            if not result.get("success"):
                codes = ", ".join(
                    str(e.get("statusCode") or e.get("message")) for e in result.get("errors", [])
                )
                failed[item.external_id] = codes or "refused"
        return failed
    if status in (200, 201):
        return {}
    message = body.get("error") if isinstance(body, dict) else body
    return {item.external_id: f"HTTP {status}: {message}" for item in items}
