"""HubSpot CRM v3 contacts: list, search, batch update, with bearer-token auth."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlencode

from leadflow.platform.crm_sandbox.base import (
    ContractServer,
    Reply,
    Request,
    bearer_token,
    int_param,
    parse_iso_ms,
    status_phrase,
    utc_from_ms,
)

CONTACTS = "/crm/v3/objects/contacts"
STANDARD_PROPERTIES = (
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
)
#: returned when the client names no properties
DEFAULT_PROPERTIES = ("firstname", "lastname", "email")
#: returned whatever the client names
ALWAYS_PROPERTIES = ("hs_object_id", "createdate", "lastmodifieddate")
DATE_PROPERTIES = frozenset({"createdate", "lastmodifieddate"})
#: kept by the server: a client's write to them is ignored
READ_ONLY_PROPERTIES = frozenset(ALWAYS_PROPERTIES)
PAGE_MAX = 100
BATCH_MAX = 100
#: the search endpoint pages through at most this many results
SEARCH_WINDOW = 10_000
OPERATORS = frozenset(
    {"EQ", "NEQ", "GT", "GTE", "LT", "LTE", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "IN", "NOT_IN"}
)

_CATEGORIES = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    409: "CONFLICT",
}


def hubspot_time(ms: int) -> str:
    """HubSpot's date-time: ISO 8601 UTC with milliseconds and "Z"."""
    return utc_from_ms(ms).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def property_value(value: Any) -> str | None:
    """HubSpot keeps every property value as a string (booleans as "true"/"false")."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise ValueError(f"property values must be strings, numbers or booleans, got {value!r}")


def _as_ms(value: Any) -> int:
    """A date filter value: epoch millis (number or digit string) or ISO 8601."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return parse_iso_ms(text)


def _as_number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class HubSpotServer(ContractServer):
    """HubSpot CRM v3 contacts (`/crm/v3/objects/contacts`), ids from 101."""

    vendor = "hubspot"

    def __init__(self, token: str = "sandbox-token", **kwargs: Any) -> None:
        super().__init__(token, **kwargs)
        self._next_id = 101

    # -- store ------------------------------------------------------------------------------

    def _sort_key(self, key: str) -> Any:
        return (0, int(key), "") if key.isdigit() else (1, 0, key)

    def _id_of(self, record: dict) -> str | None:
        value = record.get("id")
        return None if value in (None, "") else str(value)

    def _new_id(self) -> str:
        while str(self._next_id) in self._store:
            self._next_id += 1
        self._next_id += 1
        return str(self._next_id - 1)

    def _reserve_id(self, record_id: str) -> None:
        if record_id.isdigit():
            self._next_id = max(self._next_id, int(record_id) + 1)

    def _stamp_new(self, record: dict, record_id: str, ms: int) -> dict:
        given = record.get("properties")
        if given is None:  # a flat record: every other key is a property
            envelope = {"id", "createdAt", "updatedAt", "archived"}
            given = {key: value for key, value in record.items() if key not in envelope}
        properties: dict[str, Any] = dict.fromkeys(STANDARD_PROPERTIES)
        properties.update({name: property_value(value) for name, value in given.items()})
        now = hubspot_time(ms)
        created = record.get("createdAt") or properties.get("createdate") or now
        properties.update(hs_object_id=record_id, createdate=created, lastmodifieddate=now)
        return {
            "id": record_id,
            "properties": properties,
            "createdAt": created,
            "updatedAt": now,
            "archived": bool(record.get("archived", False)),
        }

    def _apply_local(self, stored: dict, fields: dict[str, Any], ms: int) -> None:
        """`archived=True` archives the contact; `properties={...}` sets those properties;
        every other keyword is a property."""
        fields = dict(fields)
        if "archived" in fields:
            stored["archived"] = bool(fields.pop("archived"))
        if isinstance(fields.get("properties"), dict):
            fields = {**fields.pop("properties"), **fields}
        self._set_properties(stored, fields, ms)

    def _set_properties(self, stored: dict, properties: dict[str, Any], ms: int) -> None:
        for name, value in properties.items():
            if name not in READ_ONLY_PROPERTIES:
                stored["properties"][name] = property_value(value)
        stored["updatedAt"] = stored["properties"]["lastmodifieddate"] = hubspot_time(ms)

    def _active(self) -> list[dict]:
        return [self._store[k] for k in self._ordered_keys() if not self._store[k]["archived"]]

    # -- protocol ---------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        return bearer_token(request.headers) == self.token

    def _unauthorized(self) -> Reply:
        return Reply(
            401,
            {
                "status": "error",
                "message": "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "category": "INVALID_AUTHENTICATION",
            },
        )

    def _error_body(self, status: int, message: str) -> Any:
        if status == 429:
            return {
                "status": "error",
                "message": "You have reached your secondly limit.",
                "errorType": "RATE_LIMIT",
                "policyName": "SECONDLY",
            }
        if status >= 500:
            return {"status": "error", "message": "internal error", "category": "INTERNAL_ERROR"}
        return {
            "status": "error",
            "message": message or status_phrase(status),
            "category": _CATEGORIES.get(status, "ERROR"),
        }

    def _route(self, request: Request) -> Reply:
        path = request.path.rstrip("/")
        method = request.method
        if path == CONTACTS and method == "GET":
            return self._list(request)
        if path == f"{CONTACTS}/search" and method == "POST":
            return self._search(request)
        if path == f"{CONTACTS}/batch/update" and method == "POST":
            return self._batch_update(request)
        prefix = f"{CONTACTS}/"
        if path.startswith(prefix) and "/" not in path[len(prefix) :] and method == "GET":
            return self._read(request, path[len(prefix) :])
        raise self._reject(404, f"No route for {method} {request.path}")

    # -- endpoints --------------------------------------------------------------------------

    def _requested(self, names: list[str] | None) -> list[str]:
        wanted = [name for name in (names or DEFAULT_PROPERTIES) if name]
        return list(dict.fromkeys([*wanted, *ALWAYS_PROPERTIES]))

    def _query_properties(self, request: Request) -> list[str]:
        values = request.query_lists.get("properties", [])
        return self._requested([n.strip() for value in values for n in value.split(",")])

    @staticmethod
    def _project(stored: dict, names: list[str]) -> dict:
        properties = stored["properties"]
        return {
            "id": stored["id"],
            "properties": {name: properties.get(name) for name in names},
            "createdAt": stored["createdAt"],
            "updatedAt": stored["updatedAt"],
            "archived": stored["archived"],
        }

    def _list(self, request: Request) -> Reply:
        query = request.query
        try:
            limit = int_param(query.get("limit"), 10, name="limit", minimum=1)
            after = int_param(query.get("after"), -1, name="after")
        except ValueError as error:
            raise self._reject(400, str(error)) from None
        limit = min(limit, self._cap(PAGE_MAX))
        archived = query.get("archived", "false").lower() == "true"
        rows = [
            self._store[key]
            for key in self._ordered_keys()
            if self._store[key]["archived"] == archived and key.isdigit() and int(key) > after
        ]
        page = rows[:limit]
        names = self._query_properties(request)
        body: dict[str, Any] = {"results": [self._project(row, names) for row in page]}
        if len(rows) > limit:
            cursor = page[-1]["id"]
            params = {**query, "after": cursor}
            body["paging"] = {
                "next": {
                    "after": cursor,
                    "link": f"{self.base_url}{CONTACTS}?{urlencode(params)}",
                }
            }
        return Reply(200, body)

    def _read(self, request: Request, record_id: str) -> Reply:
        stored = self._store.get(record_id)
        archived = request.query.get("archived", "false").lower() == "true"
        if stored is None or stored["archived"] != archived:
            raise self._reject(
                404, f"Object not found. objectId are usually numeric. ({record_id})"
            )
        return Reply(200, self._project(stored, self._query_properties(request)))

    def _search(self, request: Request) -> Reply:
        body = request.json if request.json is not None else {}
        if not isinstance(body, dict):
            raise self._reject(400, "the search request must be a JSON object")
        groups = body.get("filterGroups") or []
        try:
            limit = int_param(body.get("limit"), 10, name="limit", minimum=1)
            offset = int_param(body.get("after"), 0, name="after")
            checked = [self._check_group(group) for group in groups]
        except ValueError as error:
            raise self._reject(400, str(error)) from None
        if offset >= SEARCH_WINDOW:
            raise self._reject(
                400,
                f"There was a problem with the request. The search endpoint returns at most "
                f"{SEARCH_WINDOW} results: after={offset} is past them; narrow the filters.",
            )
        limit = min(limit, self._cap(PAGE_MAX))
        rows = [
            row
            for row in self._active()
            if not checked or any(all(self._matches(row, f) for f in fs) for fs in checked)
        ]
        try:
            rows = self._sorted(rows, body.get("sorts") or [])
        except ValueError as error:
            raise self._reject(400, str(error)) from None
        names = self._requested(body.get("properties"))
        page = rows[offset : offset + limit]
        reply: dict[str, Any] = {
            "total": len(rows),
            "results": [self._project(row, names) for row in page],
        }
        if offset + limit < len(rows):
            reply["paging"] = {"next": {"after": str(offset + limit)}}
        return Reply(200, reply)

    @staticmethod
    def _check_group(group: Any) -> list[dict]:
        if not isinstance(group, dict) or not isinstance(group.get("filters"), list):
            raise ValueError("each filterGroup needs a list of filters")
        filters = []
        for item in group["filters"]:
            if not isinstance(item, dict) or not isinstance(item.get("propertyName"), str):
                raise ValueError(f"a filter needs a propertyName: {item!r}")
            operator = str(item.get("operator", "EQ")).upper()
            if operator not in OPERATORS:
                raise ValueError(f"Unsupported filter operator {operator!r}")
            name = item["propertyName"]
            if operator in ("IN", "NOT_IN"):
                values = item.get("values")
                if not isinstance(values, list):
                    raise ValueError(f"operator {operator} needs a list of values")
                value: Any = [_as_ms(v) if name in DATE_PROPERTIES else str(v) for v in values]
            elif operator in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
                value = None
            else:
                if item.get("value") is None:
                    raise ValueError(f"operator {operator} on {name} needs a value")
                value = item["value"]
                if name not in DATE_PROPERTIES:
                    value = property_value(value)
                else:
                    try:
                        value = _as_ms(value)
                    except ValueError:
                        raise ValueError(
                            f"{value!r} is not a valid date for {name}: use epoch millis or "
                            "ISO 8601"
                        ) from None
            filters.append({"name": name, "operator": operator, "value": value})
        return filters

    @staticmethod
    def _matches(row: dict, spec: dict) -> bool:
        name, operator, wanted = spec["name"], spec["operator"], spec["value"]
        raw = row["properties"].get(name)
        present = raw not in (None, "")
        if operator == "HAS_PROPERTY":
            return present
        if operator == "NOT_HAS_PROPERTY":
            return not present
        if not present:
            return operator in ("NEQ", "NOT_IN")
        if name in DATE_PROPERTIES:
            actual: Any = parse_iso_ms(raw)
        else:
            actual = raw
        if operator == "IN":
            return actual in wanted
        if operator == "NOT_IN":
            return actual not in wanted
        if operator == "EQ":
            return bool(actual == wanted)
        if operator == "NEQ":
            return bool(actual != wanted)
        if name not in DATE_PROPERTIES:
            left, right = _as_number(actual), _as_number(wanted)
            if left is not None and right is not None:
                actual, wanted = left, right
        compared = {
            "GT": actual > wanted,
            "GTE": actual >= wanted,
            "LT": actual < wanted,
            "LTE": actual <= wanted,
        }
        return bool(compared[operator])

    def _sorted(self, rows: list[dict], sorts: list[Any]) -> list[dict]:
        """Stable sorts, last key first; records without the property come last."""
        rows = list(rows)
        for sort in reversed(sorts):
            if isinstance(sort, str):
                name, descending = sort.lstrip("-"), sort.startswith("-")
            elif isinstance(sort, dict) and isinstance(sort.get("propertyName"), str):
                name = sort["propertyName"]
                descending = str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
            else:
                raise ValueError(f"a sort needs a propertyName: {sort!r}")

            def key(row: dict, name: str = name) -> Any:
                value = row["properties"].get(name)
                if name in DATE_PROPERTIES and value:
                    return (0, parse_iso_ms(value), "")
                number = _as_number(value)
                return (0, number, "") if number is not None else (1, 0.0, str(value))

            present = [row for row in rows if row["properties"].get(name) not in (None, "")]
            missing = [row for row in rows if row["properties"].get(name) in (None, "")]
            rows = sorted(present, key=key, reverse=descending) + missing
        return rows

    def _batch_update(self, request: Request) -> Reply:
        body = request.json
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            raise self._reject(400, 'Invalid input JSON: expected {"inputs": [...]}')
        if len(inputs) > BATCH_MAX:
            raise self._reject(400, f"Batch input limit is {BATCH_MAX}, got {len(inputs)} inputs")
        ids: list[str] = []
        for item in inputs:
            if not isinstance(item, dict) or item.get("id") in (None, ""):
                raise self._reject(400, f"each input needs an id: {item!r}")
            if not isinstance(item.get("properties"), dict):
                raise self._reject(400, f"each input needs properties: {item!r}")
            for value in item["properties"].values():
                try:
                    property_value(value)
                except ValueError as error:
                    raise self._reject(400, str(error)) from None
            ids.append(str(item["id"]))
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise self._reject(400, f"Duplicate IDs found in batch input: {duplicates}")
        started = hubspot_time(self._now_ms())
        results, missing = [], []
        for record_id, item in zip(ids, inputs, strict=True):
            stored = self._store.get(record_id)
            if stored is None or stored["archived"]:
                missing.append(record_id)
                continue
            self._set_properties(stored, item["properties"], self._tick())
            self._log_update(record_id, item["properties"])
            results.append(copy.deepcopy(stored))
        reply: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": hubspot_time(self._now_ms()),
        }
        if not missing:
            return Reply(200, reply)
        reply["numErrors"] = len(missing)
        reply["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some CONTACT objects, they may be deleted or not "
                f"exist. Check that ids are valid. ({', '.join(missing)})",
                "context": {"ids": missing},
            }
        ]
        return Reply(207, reply)
