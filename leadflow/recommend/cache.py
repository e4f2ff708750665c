"""The Redis cache of recommendations: keys, fill, reads, invalidation, and life without Redis.

Keys (every one with a TTL, LEADFLOW_RECO_TTL_SECONDS, default 26 h):

    (prefix `leadflow:reco`, LEADFLOW_CACHE_PREFIX replaces `leadflow`)
    leadflow:reco:<org>:current                 -> the namespace in use, "v<model version>" ("v0": rule)
    leadflow:reco:<org>:v<version>:agent:<user> -> JSON list: the agent's ranked entries
    leadflow:reco:<org>:v<version>:lead:<lead>  -> JSON object: one lead's entry

The organization is part of every key (a reader of one tenant can never be handed another's
entry), and so is the model version: a new model fills a new namespace and moves `current`,
so a reader never mixes two models' lists. A lead that changes (merge, status, score, owner,
DNC) has its entry and its agents' lists deleted after the change (`invalidate`, by a
per-organization watermark). This domain owns that reaction; the domains that change leads know
nothing of the cache: in Dagster the asset `recommendation_cache_invalidation` runs after every
asset that writes leads (in the nightly job, and by its automation condition after a launched
import or CRM sync), and outside Dagster the commands that change leads (`leadflow leads
assign`, `crm sync`, `import`) call `invalidate_changed` with the client of the same setting.
The next read misses, is served from PostgreSQL with the lead's current state, and refills the
key. Redis unreachable: reads come from PostgreSQL and a warning is logged — never an error.

Invalidation keeps the cache fresh; it is not what keeps a DNC lead out. Every hit is checked
against PostgreSQL before it is served: one indexed statement over the leads it shows
(`store.still_served`: not DNC by status or by the organization's DNC list, not recruited, not
deleted, still the agent's). A hit that fails the check is read from PostgreSQL instead, so a
DNC row or status is honoured from the moment it commits, whoever wrote it; when PostgreSQL
cannot be asked, the read fails rather than serve an unchecked entry. A cached entry without
the keys this version serves (CURRENT_KEYS: written by an older one) counts as outdated too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Any, cast

import psycopg
import redis
from redis.exceptions import RedisError

from leadflow import settings
from leadflow.leads.ids import canonical_uuid
from leadflow.postgres import organization_ids, set_tenant
from leadflow.recommend import store
from leadflow.recommend.hours import hour_window

log = logging.getLogger(__name__)

#: the defaults are the settings' (leadflow/settings.py: LEADFLOW_RECO_TTL_SECONDS, …)
DEFAULT_TTL_SECONDS: int = settings.Settings.reco_ttl_seconds.fixed_default
DEFAULT_LIST_SIZE: int = settings.Settings.reco_list_size.fixed_default
#: seconds a Redis call may take before the cache counts as down
TIMEOUT_SECONDS = 0.5


def ttl_seconds() -> int:
    return settings.current().reco_ttl_seconds


def prefix() -> str:
    """`<LEADFLOW_CACHE_PREFIX>:reco` (default `leadflow:reco`): deployments sharing one Redis
    keep apart by their prefix."""
    return f"{settings.current().cache_prefix}:reco"


def current_key(org: str) -> str:
    return f"{prefix()}:{org}:current"


def agent_key(org: str, namespace: str, user: str) -> str:
    return f"{prefix()}:{org}:{namespace}:agent:{user}"


def lead_key(org: str, namespace: str, lead: str) -> str:
    return f"{prefix()}:{org}:{namespace}:lead:{lead}"


def namespace_of(model_version: int | None) -> str:
    return f"v{model_version or 0}"


def connect(url: str | None) -> redis.Redis | None:
    """A client for `url` (None: no cache configured)."""
    if not url:
        return None
    return redis.Redis.from_url(
        url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
    )


def _json(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def encode(entry: Any) -> bytes:
    return json.dumps(entry, default=_json, separators=(",", ":")).encode()


#: keys every served entry has since the honest scores and calling hours (issue 20): a cached
#: entry without them was written by an older version and is served from PostgreSQL instead
CURRENT_KEYS = ("score_kind", "probability", "timezone", "best_window")


def public(entry: dict) -> dict:
    """An entry as served: what an agent needs to act, nothing internal.

    `propensity` is the ranking key and a probability only when `score_kind` is "model"; ranked
    by the rule score it is the rule score / 100 (kept for the scripts that read it), and then
    `probability` is None and `rule_score` is what to show ("rule score 51"). `best_hour` is a
    local hour of `timezone` (the organization's) inside its calling hours; `best_window` says
    it with the zone ("09:00–10:00 America/New_York").
    """
    kind = "model" if entry.get("ranked_by") == "model" else "rule"
    propensity = round(float(entry["propensity"]), 4)
    timezone = entry.get("timezone")
    return {
        "lead_id": entry["lead_id"],
        "name": " ".join(p for p in (entry.get("first_name"), entry.get("last_name")) if p),
        "phone_number": entry.get("phone_number"),
        "status": entry.get("status"),
        "user_id": entry.get("user_id"),
        "rank": entry.get("agent_rank"),
        "action": entry["action"],
        "channel": entry.get("channel"),
        "best_hour": entry.get("best_hour"),
        "timezone": timezone,
        "best_window": hour_window(entry.get("best_hour"), timezone),
        "propensity": propensity,
        "score_kind": kind,
        "probability": propensity if kind == "model" else None,
        "rule_score": entry.get("rule_score"),
        "ranked_by": entry.get("ranked_by"),
        "model_version": entry.get("model_version"),
        "reasons": entry.get("reasons") or [],
        "computed_at": entry.get("computed_at"),
    }


# -- fill ------------------------------------------------------------------------------------------
def fill(
    client: redis.Redis,
    org: str,
    model_version: int | None,
    entries: Iterable[dict],
    list_size: int = DEFAULT_LIST_SIZE,
) -> dict[str, int]:
    """Write the organization's entries (per lead, and each agent's top `list_size`) into a
    fresh namespace and point `current` at it; the previous namespace's keys expire."""
    namespace = namespace_of(model_version)
    ttl = ttl_seconds()
    lists: dict[str, list[dict]] = {}
    written = 0
    pipe = client.pipeline(transaction=False)
    for entry in entries:
        served = public(entry)
        pipe.set(lead_key(org, namespace, served["lead_id"]), encode(served), ex=ttl)
        written += 1
        if served["user_id"]:
            lists.setdefault(served["user_id"], []).append(served)
        if written % 1000 == 0:
            pipe.execute()
    for user, items in lists.items():
        items.sort(key=lambda e: (e["rank"] or 0, e["lead_id"]))
        pipe.set(agent_key(org, namespace, user), encode(items[:list_size]), ex=ttl)
    pipe.set(current_key(org), namespace, ex=ttl)
    pipe.execute()
    return {"lead_keys": written, "agent_keys": len(lists)}


def refresh(
    client: redis.Redis,
    org: str,
    model_version: int | None,
    stale_leads: Iterable[str],
    stale_agents: Iterable[str],
) -> dict[str, int]:
    """After an incremental ranking: delete the cached entries of the leads whose stored entry
    changed and the lists of the agents whose first list_size changed (the next read refills
    them from PostgreSQL), and keep `current` pointing at the namespace. Nothing else is
    touched: every other key still holds what a fill of this ranking would write."""
    namespace = namespace_of(model_version)
    keys = sorted(
        {lead_key(org, namespace, lead) for lead in stale_leads}
        | {agent_key(org, namespace, user) for user in stale_agents}
    )
    deleted = 0
    for start in range(0, len(keys), 1000):
        deleted += client.delete(*keys[start : start + 1000])
    client.set(current_key(org), namespace, ex=ttl_seconds())
    return {"deleted_keys": deleted, "stale_keys": len(keys)}


# -- reads -----------------------------------------------------------------------------------------
class Source:
    CACHE = "cache"
    POSTGRES_MISS = "postgres (cache miss)"
    POSTGRES_STALE = "postgres (cached entry outdated)"
    POSTGRES_DOWN = "postgres (cache unavailable)"
    POSTGRES_NONE = "postgres (no cache configured)"


def _namespace(client: redis.Redis, org: str) -> str | None:
    value = client.get(current_key(org))
    assert not isinstance(value, str)  # bytes: connect() leaves decode_responses off
    return value.decode() if value else None


PgConnect = Callable[[], AbstractContextManager[psycopg.Connection]]


def _read_through(
    client: redis.Redis | None,
    org: str,
    key_of: Callable[[str], str],
    from_postgres: Callable[[], Any],
    still_valid: Callable[[Any], bool],
) -> tuple[Any, str]:
    """The cached value under the organization's current namespace when `still_valid` says
    PostgreSQL agrees with it now; else `from_postgres()` (JSON-shaped, None for nothing),
    written back so the next read is a hit (an outdated entry with nothing to replace it is
    deleted). A PostgreSQL error in the check propagates: nothing unchecked is served."""
    source = Source.POSTGRES_NONE if client is None else Source.POSTGRES_MISS
    namespace, outdated = None, False
    if client is not None:
        try:
            namespace = _namespace(client, org)
            if namespace:
                cached = client.get(key_of(namespace))
                if cached is not None:
                    value = json.loads(cached)
                    if still_valid(value):
                        return value, Source.CACHE
                    outdated, source = True, Source.POSTGRES_STALE
        except RedisError as exc:
            log.warning("recommendation cache unavailable (%s): reading PostgreSQL", exc)
            client, source = None, Source.POSTGRES_DOWN
    value = from_postgres()
    if client is not None and namespace and (value is not None or outdated):
        try:
            if value is not None:
                client.set(key_of(namespace), encode(value), ex=ttl_seconds())
            else:
                client.delete(key_of(namespace))
        except RedisError as exc:
            log.warning("recommendation cache refill failed (%s)", exc)
    return value, source


def _current(entry: Any) -> bool:
    """A cached entry in the shape this version serves (CURRENT_KEYS)."""
    return isinstance(entry, dict) and all(key in entry for key in CURRENT_KEYS)


def _servable(connect_pg: PgConnect, org: str, items: list[dict]) -> dict[str, str | None]:
    """{lead id: its agent} of the items' leads that may be served now (store.still_served)."""
    if not items:
        return {}
    with connect_pg() as conn:
        return store.still_served(conn, org, [item["lead_id"] for item in items])


def agent_list(
    client: redis.Redis | None, connect_pg: PgConnect, org: str, user: str, limit: int
) -> tuple[list[dict], str]:
    """The agent's ranked list (its first `limit` entries) and where it came from (Source).
    A cached list is served only when every lead it shows is still servable and still the
    agent's, as PostgreSQL says at this moment: a number put on the DNC list, a lead set to
    DNC or recruited, deleted or reassigned by anything (the application, an import, a CRM
    sync) is never served from the cache, invalidated or not."""

    def from_postgres() -> list[dict]:
        with connect_pg() as conn:
            rows = store.agent_entries(conn, org, user, max(limit, DEFAULT_LIST_SIZE))
        entries = json.loads(encode([public(row) for row in rows]))  # the cache's own shape
        return cast(list[dict], entries)

    def still_valid(items: list[dict]) -> bool:
        shown = items[:limit]
        if not all(_current(item) for item in shown):
            return False
        owners = _servable(connect_pg, org, shown)
        # a lead id that is no UUID has no owner ("" is no lead's id)
        return all(owners.get(canonical_uuid(item["lead_id"]) or "", "") == user for item in shown)

    items, source = _read_through(
        client, org, lambda ns: agent_key(org, ns, user), from_postgres, still_valid
    )
    return items[:limit], source


def lead_entry(
    client: redis.Redis | None, connect_pg: PgConnect, org: str, lead: str
) -> tuple[dict | None, str]:
    """One lead's entry (None: not recommendable now) and where it came from (Source); a
    cached entry is checked against PostgreSQL as in `agent_list`."""

    def from_postgres() -> dict | None:
        with connect_pg() as conn:
            row = store.lead_entry(conn, org, lead)
        return json.loads(encode(public(row))) if row else None

    def still_valid(entry: dict) -> bool:
        return _current(entry) and canonical_uuid(entry["lead_id"]) in _servable(
            connect_pg, org, [entry]
        )

    return _read_through(
        client, org, lambda ns: lead_key(org, ns, lead), from_postgres, still_valid
    )


# -- invalidation ----------------------------------------------------------------------------------
def invalidate(
    client: redis.Redis | None, connect_pg: PgConnect, organizations: Iterable[str]
) -> dict[str, Any]:
    """Delete the cached entries of the leads changed since each organization's watermark, and
    their agents' lists; move the watermark. Each organization's transactions are scoped to it
    (set_tenant). No client, or Redis down: nothing moves, not even the watermark (a process
    that does not see the cache must not mark changes as handled; the next call, or the TTL,
    catches up), and for Redis down a warning says so."""
    deleted = leads = 0
    skipped: list[str] = []
    for org in organizations:
        if client is None:  # no cache seen: nothing is marked as handled
            skipped.append(org)
            continue
        with connect_pg() as conn:
            set_tenant(conn, org)
            changed, until = store.changed_since(conn, org)
        if not changed:
            with connect_pg() as conn:
                set_tenant(conn, org)
                store.set_watermark(conn, org, until)
            continue
        try:
            namespace = _namespace(client, org)
            if namespace:
                keys = sorted(
                    {lead_key(org, namespace, lead) for lead, _ in changed}
                    | {agent_key(org, namespace, user) for _, user in changed if user}
                )
                for start in range(0, len(keys), 1000):
                    deleted += client.delete(*keys[start : start + 1000])
        except RedisError as exc:
            log.warning(
                "recommendation cache unavailable (%s): %d changed leads of %s stay"
                " cached until the next invalidation or their TTL",
                exc,
                len(changed),
                org,
            )
            skipped.append(org)
            continue
        leads += len({lead for lead, _ in changed})
        with connect_pg() as conn:
            set_tenant(conn, org)
            store.set_watermark(conn, org, until)
    return {"changed_leads": leads, "deleted_keys": deleted, "skipped_organizations": skipped}


def invalidate_changed(
    client: redis.Redis | None,
    connect_pg: PgConnect,
    organizations: Iterable[str] | None = None,
    logger: logging.Logger | Any = None,
) -> dict[str, Any]:
    """Invalidate after leads changed: what the asset recommendation_cache_invalidation does,
    and the commands that change leads outside Dagster. `client` is the cache the `redis`
    resource (or the command's same setting) points at; None, no cache configured: nothing is
    touched, not even the watermarks. `organizations` None: every one. Never fails the caller:
    a problem is a warning."""
    logger = logger or log
    if client is None:
        return {
            "changed_leads": 0,
            "deleted_keys": 0,
            "skipped_organizations": [],
            "cache": "not configured",
        }
    try:
        if organizations is None:
            with connect_pg() as conn:
                organizations = organization_ids(conn)
        result = invalidate(client, connect_pg, list(organizations))
    except (psycopg.Error, RedisError, OSError) as exc:
        logger.warning(f"recommendation cache invalidation skipped: {exc}")
        return {"error": str(exc)}
    if result.get("deleted_keys"):
        logger.info(
            f"recommendation cache: {result['deleted_keys']} keys of"
            f" {result['changed_leads']} changed leads invalidated"
        )
    return result
