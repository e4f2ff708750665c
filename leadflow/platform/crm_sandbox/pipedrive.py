"""Pipedrive API v1 persons: list, recents since a timestamp, PUT of one person, with the
x-api-token header as auth.

Pipedrive itself also takes the token as an `api_token` query parameter; this server refuses
that (401), so a test proves the client never puts the token in a URL, where proxies, logs and
error texts would keep it."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any, TypedDict

from leadflow.platform.crm_sandbox.base import (
    ContractServer,
    Reply,
    Request,
    int_param,
    status_phrase,
    utc_from_ms,
)


class _Owner(TypedDict):
    """A user as a person's owner_id shows it."""

    id: int
    name: str


PERSONS = "/v1/persons"
RECENTS = "/v1/recents"
PAGE_DEFAULT = 100
PAGE_MAX = 500
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: kept by the server: a client's PUT of them is ignored
READ_ONLY_FIELDS = frozenset({"id", "add_time", "update_time", "active_flag"})
DEFAULT_OWNER: _Owner = {"id": 1, "name": "Sandbox Admin"}
STANDARD_KEYS = (
    "id",
    "name",
    "first_name",
    "last_name",
    "phone",
    "email",
    "org_name",
    "owner_id",
    "label",
    "add_time",
    "update_time",
    "active_flag",
)


def pipedrive_time(ms: int) -> str:
    """Pipedrive's time: "YYYY-MM-DD HH:MM:SS" in UTC, whole seconds."""
    return utc_from_ms(ms).strftime(TIME_FORMAT)


def contact_list(value: Any, default_label: str = "work") -> list[dict]:
    """A phone or email field as Pipedrive keeps it: a list of {label, value, primary}; none
    is [{"value": "", "primary": true}]."""
    if value in (None, "", []):
        return [{"value": "", "primary": True}]
    items = value if isinstance(value, list) else [value]
    entries = []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            entry = {"label": item.get("label", default_label), "value": item.get("value", "")}
            entry["primary"] = bool(item.get("primary", index == 0))
        else:
            entry = {"label": default_label, "value": str(item), "primary": index == 0}
        entries.append(entry)
    return entries


class PipedriveServer(ContractServer):
    """Pipedrive API v1 persons (`/v1/persons`, `/v1/recents`), integer ids from 1.

    Pipedrive times have whole-second resolution, so the sandbox clock steps a full second per
    write: two writes never share an update_time, and the clock runs ahead of real time by up
    to one second per write made faster than that.
    """

    vendor = "pipedrive"
    clock_step_ms = 1000

    def __init__(self, token: str = "sandbox-token", **kwargs: Any) -> None:
        super().__init__(token, **kwargs)
        self._next_id = 1
        self._owners: dict[int, str] = {DEFAULT_OWNER["id"]: DEFAULT_OWNER["name"]}

    # -- store ------------------------------------------------------------------------------

    def _sort_key(self, key: str) -> Any:
        return (0, int(key), "") if key.lstrip("-").isdigit() else (1, 0, key)

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

    def _owner(self, value: Any) -> dict:
        if isinstance(value, dict) and "id" in value:
            owner = dict(value)
            self._owners.setdefault(int(owner["id"]), str(owner.get("name", "")))
            return owner
        if value is None:
            return dict(DEFAULT_OWNER)
        owner_id = int(value)
        return {"id": owner_id, "name": self._owners.get(owner_id, f"User {owner_id}")}

    def _set_fields(self, stored: dict, fields: dict[str, Any]) -> None:
        """Pipedrive's write semantics: phone/email lists normalised, an owner id expanded,
        name and first/last name kept consistent; any other key (a custom field) as given."""
        for name, value in fields.items():
            if name in ("phone", "email"):
                stored[name] = contact_list(value)
            elif name == "owner_id":
                stored[name] = self._owner(value)
            else:
                stored[name] = value
        if "first_name" in fields or "last_name" in fields:
            parts = (stored.get("first_name"), stored.get("last_name"))
            stored["name"] = " ".join(part for part in parts if part)
        elif "name" in fields:
            first, _, last = str(fields["name"] or "").strip().partition(" ")
            stored["first_name"], stored["last_name"] = first, last or None

    def _stamp_new(self, record: dict, record_id: str, ms: int) -> dict:
        now = pipedrive_time(ms)
        stored: dict[str, Any] = {
            "id": int(record_id) if record_id.lstrip("-").isdigit() else record_id,
            "name": None,
            "first_name": None,
            "last_name": None,
            "phone": contact_list(None),
            "email": contact_list(None),
            "org_name": None,
            "owner_id": dict(DEFAULT_OWNER),
            "label": None,
            "add_time": record.get("add_time") or now,
            "update_time": now,
            "active_flag": bool(record.get("active_flag", True)),
        }
        fields = {k: v for k, v in record.items() if k not in READ_ONLY_FIELDS}
        given_name = fields.pop("name", None)
        self._set_fields(stored, fields)
        if given_name:
            stored["name"] = given_name
        return stored

    def _apply_local(self, stored: dict, fields: dict[str, Any], ms: int) -> None:
        """Any field, also active_flag (False: a deleted person, left out of /v1/persons)."""
        fields = dict(fields)
        if "active_flag" in fields:
            stored["active_flag"] = bool(fields.pop("active_flag"))
        self._set_fields(stored, fields)
        stored["update_time"] = pipedrive_time(ms)

    # -- protocol ---------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        if "api_token" in request.query_lists:
            return False
        return request.headers.get("x-api-token") == self.token

    def _unauthorized(self) -> Reply:
        return Reply(
            401,
            {
                "success": False,
                "error": "unauthorized access",
                "errorCode": 401,
                "error_info": "Please check developers.pipedrive.com",
            },
        )

    def _error_body(self, status: int, message: str) -> Any:
        if status == 429:
            return {"success": False, "error": "Rate limit has been exceeded", "errorCode": 429}
        return {"success": False, "error": message or status_phrase(status), "errorCode": status}

    def _route(self, request: Request) -> Reply:
        path = request.path.rstrip("/")
        method = request.method
        if path == PERSONS and method == "GET":
            return self._list(request)
        if path == RECENTS and method == "GET":
            return self._recents(request)
        prefix = f"{PERSONS}/"
        if path.startswith(prefix) and "/" not in path.removeprefix(prefix):
            person_id = path.removeprefix(prefix)
            if method == "GET":
                return self._read(person_id)
            if method == "PUT":
                return self._put(request, person_id)
        raise self._reject(404, f"Unknown method {method} {request.path}")

    # -- endpoints --------------------------------------------------------------------------

    def _window(self, request: Request) -> tuple[int, int]:
        try:
            start = int_param(request.query.get("start"), 0, name="start")
            limit = int_param(request.query.get("limit"), PAGE_DEFAULT, name="limit", minimum=1)
        except ValueError as error:
            raise self._reject(400, str(error)) from None
        return start, min(limit, self._cap(PAGE_MAX))

    @staticmethod
    def _pagination(start: int, limit: int, total: int) -> dict[str, Any]:
        more = start + limit < total
        pagination: dict[str, Any] = {
            "start": start,
            "limit": limit,
            "more_items_in_collection": more,
        }
        if more:
            pagination["next_start"] = start + limit
        return pagination

    def _sorted(self, rows: list[dict], sort: str) -> list[dict]:
        """`sort` as Pipedrive takes it: "field ASC, other DESC"."""
        known = {key for row in rows for key in row} | set(STANDARD_KEYS)
        for item in reversed([part.strip() for part in sort.split(",") if part.strip()]):
            name, _, direction = item.partition(" ")
            direction = direction.strip().upper() or "ASC"
            if direction not in ("ASC", "DESC") or name not in known:
                raise self._reject(400, f"Invalid sort: {item!r}")

            def key(row: dict, name: str = name) -> Any:
                value = row.get(name)
                if isinstance(value, dict):
                    value = value.get("id")
                if isinstance(value, int | float) and not isinstance(value, bool):
                    return (0, value, "")
                return (1, 0, "" if value is None else str(value))

            rows = sorted(rows, key=key, reverse=direction == "DESC")
        return rows

    def _list(self, request: Request) -> Reply:
        start, limit = self._window(request)
        rows = [self._store[k] for k in self._ordered_keys() if self._store[k]["active_flag"]]
        if request.query.get("sort"):
            rows = self._sorted(rows, request.query["sort"])
        page = copy.deepcopy(rows[start : start + limit])
        return Reply(
            200,
            {
                "success": True,
                "data": page or None,
                "additional_data": {"pagination": self._pagination(start, limit, len(rows))},
            },
        )

    def _recents(self, request: Request) -> Reply:
        since = request.query.get("since_timestamp")
        if not since:
            raise self._reject(400, "since_timestamp is required")
        try:
            datetime.strptime(since, TIME_FORMAT)
        except ValueError:
            raise self._reject(
                400, "since_timestamp must be in the format YYYY-MM-DD HH:MM:SS"
            ) from None
        start, limit = self._window(request)
        items = request.query.get("items")
        wanted = items is None or "person" in [i.strip() for i in items.split(",")]
        rows = [row for row in self._store.values() if wanted and row["update_time"] >= since]
        rows.sort(key=lambda row: (row["update_time"], self._sort_key(str(row["id"]))))
        page = rows[start : start + limit]
        data = [{"item": "person", "id": row["id"], "data": copy.deepcopy(row)} for row in page]
        return Reply(
            200,
            {
                "success": True,
                "data": data or None,
                "additional_data": {
                    "since_timestamp": since,
                    "last_timestamp_on_page": page[-1]["update_time"] if page else since,
                    "pagination": self._pagination(start, limit, len(rows)),
                },
            },
        )

    def _read(self, person_id: str) -> Reply:
        stored = self._store.get(person_id)
        if stored is None:
            raise self._reject(404, "Person not found")
        return Reply(200, {"success": True, "data": copy.deepcopy(stored)})

    def _put(self, request: Request, person_id: str) -> Reply:
        stored = self._store.get(person_id)
        if stored is None or not stored["active_flag"]:
            raise self._reject(404, "Person not found")
        body = request.json
        if not isinstance(body, dict):
            raise self._reject(400, "the request body must be a JSON object")
        fields = {k: v for k, v in body.items() if k not in READ_ONLY_FIELDS}
        updated = copy.deepcopy(stored)
        try:
            self._set_fields(updated, fields)
        except (TypeError, ValueError) as error:
            raise self._reject(400, f"invalid field value: {error}") from None
        stored.clear()
        stored.update(updated)
        stored["update_time"] = pipedrive_time(self._tick())
        self._log_update(person_id, body)
        return Reply(200, {"success": True, "data": copy.deepcopy(stored)})
