"""Salesforce REST API v60.0 for the Lead sObject: SOQL query with query locators, PATCH of
one record and sObject Collections update, with bearer-token auth."""

from __future__ import annotations

import copy
import re
from functools import partial
from typing import Any

from leadflow.platform.crm_sandbox.base import (
    ContractServer,
    Reply,
    Request,
    bearer_token,
    parse_iso_ms,
    status_phrase,
    utc_from_ms,
)

API = "/services/data/v60.0"
SOBJECT = "Lead"
#: the Lead fields the sandbox knows, in the order records show them
STANDARD_FIELDS = (
    "Id",
    "FirstName",
    "LastName",
    "Phone",
    "MobilePhone",
    "Email",
    "Company",
    "Status",
    "LeadSource",
    "OwnerId",
    "DoNotCall",
    "IsDeleted",
    "CreatedDate",
    "SystemModstamp",
)
READ_ONLY_FIELDS = frozenset({"Id", "IsDeleted", "CreatedDate", "SystemModstamp"})
DATETIME_FIELDS = frozenset({"CreatedDate", "SystemModstamp"})
BOOLEAN_FIELDS = frozenset({"DoNotCall", "IsDeleted"})
PAGE_DEFAULT = 2000
#: the Sforce-Query-Options batchSize bounds
BATCH_SIZE_MIN = 200
COLLECTION_MAX = 200
LOCATOR_PREFIX = "01gSANDBOX"

_STANDARD_BY_LOWER = {name.lower(): name for name in STANDARD_FIELDS}
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_CUSTOM_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*__c$")
_SOQL = re.compile(
    r"""^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)
    (?:\s+WHERE\s+(?P<where>.+?))?
    (?:\s+ORDER\s+BY\s+(?P<order>.+?))?
    (?:\s+LIMIT\s+(?P<limit>\d+))?
    \s*$""",
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)
_CONDITION = re.compile(
    r"""\s*(?P<field>\w+)\s*(?P<op><=|>=|!=|<>|=|<|>)\s*
    (?P<value>'(?:[^'\\]|\\.)*'|[^\s']+)\s*""",
    re.DOTALL | re.VERBOSE,
)
_AND = re.compile(r"AND\b", re.IGNORECASE)
_DATETIME_LITERAL = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2})$"
)
_ORDER_ITEM = re.compile(
    r"^\s*(?P<field>\w+)(?:\s+(?P<dir>ASC|DESC))?(?:\s+NULLS\s+(?P<nulls>FIRST|LAST))?\s*$",
    re.IGNORECASE,
)


def salesforce_time(ms: int) -> str:
    """Salesforce's date-time: "2026-12-01T10:00:00.123+0000"."""
    return utc_from_ms(ms).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}+0000"


def salesforce_id(prefix: str, number: int) -> str:
    """An 18-character Salesforce id: `prefix` (3 characters), a pod-like filler and the
    base-62 `number` make the 15-character id, then the case-safe checksum of 3 characters.
    Ids of one prefix sort in the order of their numbers."""
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    body = (prefix + "5e000" + digits.rjust(7, "0"))[:15]
    if len(body) != 15 or len(digits) > 7:
        raise ValueError("an id needs a 3-character prefix and a number below 62**7")
    suffix = ""
    for start in (0, 5, 10):
        chunk = body[start : start + 5]
        bits = sum(1 << i for i, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += _CHECKSUM[bits]
    return body + suffix


class _Malformed(ValueError):
    """A SOQL statement the sandbox cannot read: MALFORMED_QUERY."""


class _BadField(ValueError):
    """A SOQL statement naming an unknown field or misusing one: INVALID_FIELD."""


class SalesforceServer(ContractServer):
    """Salesforce REST API v60.0, sObject Lead (`/services/data/v60.0`).

    Any field name ending in `__c` counts as a custom field of the org (readable, null when
    never written, writable); other unknown fields are INVALID_FIELD.
    """

    vendor = "salesforce"

    def __init__(self, token: str = "sandbox-token", **kwargs: Any) -> None:
        super().__init__(token, **kwargs)
        self._counter = 0
        #: lower-case name -> canonical name of every field known besides the standard ones
        self._extra_fields: dict[str, str] = {}
        self._locators: dict[str, tuple[list[dict], int]] = {}
        self._locator_counter = 0
        self._link_base = ""

    def link_pages_to(self, base_url: str) -> None:
        """Make every nextRecordsUrl an absolute URL on `base_url` (a hostile CRM payload: the
        client must not follow it to another host); empty: relative links again."""
        with self._lock:
            self._link_base = base_url.rstrip("/")

    # -- store ------------------------------------------------------------------------------

    def _id_of(self, record: dict) -> str | None:
        value = record.get("Id") or record.get("id")
        return None if value in (None, "") else str(value)

    def _new_id(self) -> str:
        while True:
            self._counter += 1
            record_id = salesforce_id("00Q", self._counter)
            if record_id not in self._store:
                return record_id

    def _key(self, record_id: str | int) -> str:
        key = str(record_id)
        if len(key) == 15 and key not in self._store:  # the case-sensitive 15-character form
            for candidate in self._store:
                if candidate[:15] == key:
                    return candidate
        return key

    def _canonical(self, name: str) -> str | None:
        """The field's canonical spelling (field names are case-insensitive), None when the
        org has no such field."""
        lowered = name.lower()
        known = _STANDARD_BY_LOWER.get(lowered) or self._extra_fields.get(lowered)
        if known is not None:
            return known
        return name if _CUSTOM_FIELD.match(name) else None

    def _remember(self, names: Any) -> None:
        """Make fields written outside the standard set known (queryable) by their name."""
        for name in names:
            if name != "attributes" and name.lower() not in _STANDARD_BY_LOWER:
                self._extra_fields.setdefault(name.lower(), name)

    def _stamp_new(self, record: dict, record_id: str, ms: int) -> dict:
        now = salesforce_time(ms)
        stored: dict[str, Any] = {
            "attributes": {"type": SOBJECT, "url": f"{API}/sobjects/{SOBJECT}/{record_id}"}
        }
        stored.update(dict.fromkeys(STANDARD_FIELDS))
        stored["DoNotCall"] = False
        extra = {k: v for k, v in record.items() if k not in ("attributes", "id")}
        self._remember(extra)
        for name, value in extra.items():
            stored[self._canonical(name) or name] = value
        stored.update(
            Id=record_id,
            IsDeleted=bool(extra.get("IsDeleted", False)),
            CreatedDate=extra.get("CreatedDate") or now,
            SystemModstamp=now,
        )
        return stored

    def _apply_local(self, stored: dict, fields: dict[str, Any], ms: int) -> None:
        """Any field, also IsDeleted (a deleted lead leaves query results)."""
        self._remember(fields)
        for name, value in fields.items():
            stored[self._canonical(name) or name] = value
        stored["SystemModstamp"] = salesforce_time(ms)

    # -- protocol ---------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        return bearer_token(request.headers) == self.token

    def _unauthorized(self) -> Reply:
        return Reply(
            401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        )

    def _error_body(self, status: int, message: str) -> Any:
        if status == 429:
            return [{"message": "rate limited", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
        if status >= 500:
            return [{"message": "server error", "errorCode": "SERVER_UNAVAILABLE"}]
        if status == 403:
            return [
                {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
            ]
        if status == 404:
            return [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
        code = {400: "INVALID_REQUEST"}.get(status, status_phrase(status).upper().replace(" ", "_"))
        return [{"message": message, "errorCode": code}]

    def _bad_json(self) -> Reply:
        return self._error(400, "JSON_PARSER_ERROR", "Unexpected character in the request body")

    def _error(self, status: int, code: str, message: str, **extra: Any) -> Reply:
        return Reply(status, [{"message": message, "errorCode": code, **extra}])

    def _route(self, request: Request) -> Reply:
        path = request.path.rstrip("/")
        method = request.method
        if path == f"{API}/query" and method == "GET":
            return self._query(request)
        if path.startswith(f"{API}/query/") and method == "GET":
            return self._more(path.removeprefix(f"{API}/query/"))
        if path == f"{API}/composite/sobjects" and method == "PATCH":
            return self._collection_update(request)
        prefix = f"{API}/sobjects/{SOBJECT}/"
        if path.startswith(prefix) and "/" not in path.removeprefix(prefix):
            record_id = path.removeprefix(prefix)
            if method == "GET":
                return self._read(request, record_id)
            if method == "PATCH":
                return self._patch(request, record_id)
        return Reply(404, self._error_body(404, ""))

    # -- query ------------------------------------------------------------------------------

    def _page_size(self, request: Request) -> int:
        size = PAGE_DEFAULT
        options = request.headers.get("Sforce-Query-Options") or ""
        match = re.search(r"batchSize\s*=\s*(\d+)", options)
        if match:
            size = max(BATCH_SIZE_MIN, min(PAGE_DEFAULT, int(match.group(1))))
        return self._cap(size)

    def _query(self, request: Request) -> Reply:
        soql = request.query.get("q")
        if not soql:
            return self._error(400, "MALFORMED_QUERY", "A query string (q) is required")
        try:
            rows = self._run(soql)
        except _Malformed as error:
            return self._error(400, "MALFORMED_QUERY", str(error))
        except _BadField as error:
            return self._error(400, "INVALID_FIELD", str(error))
        if rows is None:  # SELECT COUNT()
            return Reply(200, {"totalSize": self._count(soql), "done": True, "records": []})
        size = self._page_size(request)
        locator = None
        if len(rows) > size:
            self._locator_counter += 1
            locator = f"{LOCATOR_PREFIX}{self._locator_counter}"
            self._locators[locator] = (rows, size)
        return Reply(200, self._page(rows, 0, size, locator))

    def _page(self, rows: list[dict], offset: int, size: int, locator: str | None) -> dict:
        end = offset + size
        body: dict[str, Any] = {
            "totalSize": len(rows),
            "done": end >= len(rows),
            "records": copy.deepcopy(rows[offset:end]),
        }
        if end < len(rows):
            body["nextRecordsUrl"] = f"{self._link_base}{API}/query/{locator}-{end}"
        return body

    def _more(self, tail: str) -> Reply:
        locator, _, offset_text = tail.rpartition("-")
        snapshot = self._locators.get(locator)
        if snapshot is None or not offset_text.isdigit() or int(offset_text) > len(snapshot[0]):
            return self._error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        rows, size = snapshot
        return Reply(200, self._page(rows, int(offset_text), size, locator))

    def _parse(self, soql: str) -> dict[str, Any]:
        match = _SOQL.match(soql)
        if match is None:
            raise _Malformed(f"unexpected token in query: {soql.strip()[:80]!r}")
        if match.group("object").lower() != SOBJECT.lower():
            raise _BadField(f"sObject type '{match.group('object')}' is not supported.")
        field_list = [name.strip() for name in match.group("fields").split(",")]
        if [name.replace(" ", "").upper() for name in field_list] == ["COUNT()"]:
            fields = None
        else:
            fields = []
            for name in field_list:
                if not re.fullmatch(r"\w+", name):
                    raise _Malformed(f"unexpected token: {name!r}")
                fields.append(self._field(name))
        return {
            "fields": fields,
            "where": self._conditions(match.group("where")) if match.group("where") else [],
            "order": self._order(match.group("order")) if match.group("order") else [],
            "limit": int(match.group("limit")) if match.group("limit") else None,
        }

    def _field(self, name: str) -> str:
        canonical = self._canonical(name)
        if canonical is None:
            raise _BadField(
                f"\nSELECT {name} FROM Lead\n       ^\nERROR at Row:1:Column:8\nNo such column "
                f"'{name}' on entity 'Lead'. If you are attempting to use a custom field, be "
                "sure to append the '__c' after the custom field name."
            )
        return canonical

    def _conditions(self, where: str) -> list[tuple[str, str, Any]]:
        conditions = []
        position = 0
        while True:
            match = _CONDITION.match(where, position)
            if match is None:
                raise _Malformed(f"unexpected token in WHERE: {where[position:][:60]!r}")
            name = self._field(match.group("field"))
            operator = "!=" if match.group("op") == "<>" else match.group("op")
            conditions.append((name, operator, self._literal(name, match.group("value"))))
            position = match.end()
            if position >= len(where):
                return conditions
            conjunction = _AND.match(where, position)
            if conjunction is None:
                raise _Malformed(
                    f"the sandbox reads conditions joined by AND only: {where[position:][:60]!r}"
                )
            position = conjunction.end()

    @staticmethod
    def _literal(name: str, text: str) -> Any:
        if text.lower() == "null":
            return None
        if name in DATETIME_FIELDS:
            if text.startswith("'"):
                raise _BadField(
                    f"value of filter criterion for field '{name}' must be of type dateTime and "
                    "should not be enclosed in quotes"
                )
            if not _DATETIME_LITERAL.match(text):
                raise _Malformed(f"line 1:0 no viable alternative at character '{text}'")
            return parse_iso_ms(text)
        if name in BOOLEAN_FIELDS:
            if text.lower() not in ("true", "false"):
                raise _BadField(f"value of filter criterion for field '{name}' must be a boolean")
            return text.lower() == "true"
        if text.startswith("'"):
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        try:
            return float(text)
        except ValueError:
            raise _Malformed(f"unexpected token: '{text}'") from None

    def _order(self, order: str) -> list[tuple[str, bool, bool]]:
        keys = []
        for item in order.split(","):
            match = _ORDER_ITEM.match(item)
            if match is None:
                raise _Malformed(f"unexpected token in ORDER BY: {item.strip()!r}")
            descending = (match.group("dir") or "ASC").upper() == "DESC"
            nulls = match.group("nulls")
            nulls_first = (nulls.upper() == "FIRST") if nulls else not descending
            keys.append((self._field(match.group("field")), descending, nulls_first))
        return keys

    @staticmethod
    def _value(row: dict, name: str) -> Any:
        value = row.get(name)
        if name in DATETIME_FIELDS and isinstance(value, str):
            return parse_iso_ms(value)
        return value

    def _keep(self, row: dict, conditions: list[tuple[str, str, Any]]) -> bool:
        for name, operator, wanted in conditions:
            actual = self._value(row, name)
            if operator in ("=", "!="):
                if (actual == wanted) != (operator == "="):
                    return False
                continue
            if actual is None or wanted is None:
                return False
            if isinstance(wanted, float) and not isinstance(actual, int | float):
                try:
                    actual = float(actual)
                except (TypeError, ValueError):
                    return False
            try:
                passed = {
                    "<": actual < wanted,
                    "<=": actual <= wanted,
                    ">": actual > wanted,
                    ">=": actual >= wanted,
                }[operator]
            except TypeError:
                return False
            if not passed:
                return False
        return True

    def _matching(self, parsed: dict[str, Any]) -> list[dict]:
        rows = [
            self._store[key]
            for key in self._ordered_keys()
            if not self._store[key].get("IsDeleted")
            and self._keep(self._store[key], parsed["where"])
        ]
        for name, descending, nulls_first in reversed(parsed["order"]):
            present = [row for row in rows if row.get(name) is not None]
            missing = [row for row in rows if row.get(name) is None]
            present.sort(key=partial(self._value, name=name), reverse=descending)
            rows = missing + present if nulls_first else present + missing
        if parsed["limit"] is not None:
            rows = rows[: parsed["limit"]]
        return rows

    def _run(self, soql: str) -> list[dict] | None:
        parsed = self._parse(soql)
        if parsed["fields"] is None:
            return None
        return [
            {
                "attributes": dict(row["attributes"]),
                **{name: row.get(name) for name in parsed["fields"]},
            }
            for row in self._matching(parsed)
        ]

    def _count(self, soql: str) -> int:
        return len(self._matching(self._parse(soql)))

    # -- writes -----------------------------------------------------------------------------

    def _read(self, request: Request, record_id: str) -> Reply:
        stored = self._store.get(self._key(record_id))
        if stored is None or stored.get("IsDeleted"):
            return Reply(404, self._error_body(404, ""))
        wanted = request.query.get("fields")
        if not wanted:
            return Reply(200, copy.deepcopy(stored))
        try:
            names = [self._field(name.strip()) for name in wanted.split(",")]
        except _BadField as error:
            return self._error(400, "INVALID_FIELD", str(error))
        return Reply(
            200, {"attributes": dict(stored["attributes"]), **{n: stored.get(n) for n in names}}
        )

    def _check_write(
        self, record_id: str | None, fields: dict[str, Any]
    ) -> tuple[str, dict] | dict:
        """The stored key and canonical fields of a valid write, else its error (a dict with
        statusCode, message and fields)."""
        if not record_id:
            return {
                "statusCode": "MISSING_ARGUMENT",
                "message": "Id not specified in an update call",
                "fields": [],
            }
        key = self._key(record_id)
        stored = self._store.get(key)
        if stored is None:
            return {
                "statusCode": "NOT_FOUND",
                "message": "The requested resource does not exist",
                "fields": [],
            }
        if stored.get("IsDeleted"):
            return {"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}
        canonical: dict[str, Any] = {}
        for name, value in fields.items():
            field = self._canonical(name)
            if field is None:
                return {
                    "statusCode": "INVALID_FIELD",
                    "message": f"No such column '{name}' on sobject of type Lead",
                    "fields": [name],
                }
            if field in READ_ONLY_FIELDS:
                return {
                    "statusCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
                    "message": f"Unable to create/update fields: {field}. Please check the "
                    "security settings of this field and verify that it is read/write for your "
                    "profile or permission set.",
                    "fields": [field],
                }
            if isinstance(value, dict | list):
                return {
                    "statusCode": "JSON_PARSER_ERROR",
                    "message": f"Cannot deserialize instance of {field} from a JSON object or array",
                    "fields": [field],
                }
            canonical[field] = value
        return key, canonical

    def _write(self, key: str, fields: dict[str, Any], received: dict[str, Any]) -> None:
        stored = self._store[key]
        self._remember(fields)
        stored.update(fields)
        stored["SystemModstamp"] = salesforce_time(self._tick())
        self._log_update(key, received)

    def _patch(self, request: Request, record_id: str) -> Reply:
        body = request.json
        if not isinstance(body, dict):
            return self._error(400, "JSON_PARSER_ERROR", "the request body must be a JSON object")
        received = {k: v for k, v in body.items() if k != "attributes"}
        checked = self._check_write(record_id, received)
        if isinstance(checked, dict):
            code = checked["statusCode"]
            status = 404 if code in ("NOT_FOUND", "ENTITY_IS_DELETED") else 400
            extra = {"fields": checked["fields"]} if checked["fields"] else {}
            return self._error(status, code, checked["message"], **extra)
        key, fields = checked
        self._write(key, fields, received)
        return Reply(204)

    def _collection_update(self, request: Request) -> Reply:
        body = request.json
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            return self._error(
                400, "JSON_PARSER_ERROR", 'expected {"allOrNone": ..., "records": [...]}'
            )
        if len(records) > COLLECTION_MAX:
            return self._error(
                400,
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {COLLECTION_MAX} records into "
                "this call",
            )
        all_or_none = bool(body.get("allOrNone", False))
        checked: list[tuple[str, dict, dict] | dict] = []
        for item in records:
            if not isinstance(item, dict):
                checked.append(
                    {"statusCode": "JSON_PARSER_ERROR", "message": "not a record", "fields": []}
                )
                continue
            sobject = (item.get("attributes") or {}).get("type")
            if sobject != SOBJECT:
                checked.append(
                    {
                        "statusCode": "INVALID_TYPE",
                        "message": f"sObject type {sobject!r} is not supported here: the "
                        "sandbox serves Lead",
                        "fields": [],
                    }
                )
                continue
            record_id = item.get("id") or item.get("Id")
            received = {k: v for k, v in item.items() if k not in ("attributes", "id", "Id")}
            result = self._check_write(None if record_id is None else str(record_id), received)
            checked.append(result if isinstance(result, dict) else (*result, received))
        failed = any(isinstance(result, dict) for result in checked)
        answers = []
        for outcome in checked:
            if isinstance(outcome, dict):
                answers.append({"success": False, "errors": [outcome]})
            elif all_or_none and failed:
                answers.append(
                    {
                        "success": False,
                        "errors": [
                            {
                                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                "message": "Record rolled back because not all records were "
                                "valid and the request was using AllOrNone header",
                                "fields": [],
                            }
                        ],
                    }
                )
            else:
                key, fields, received = outcome
                self._write(key, fields, received)
                answers.append({"id": key, "success": True, "errors": []})
        return Reply(200, answers)
