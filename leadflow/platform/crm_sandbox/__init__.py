"""CRM sandboxes: in-process loopback HTTP servers that answer the documented request/response
contracts of three CRM vendor APIs (HubSpot CRM v3 contacts, Salesforce REST v60.0 Leads,
Pipedrive v1 persons), with a scriptable store, request log and failures.

Used by the tests and by `make demo` of the CRM sync: a client is pointed at `base_url` with
the sandbox's `token` instead of the vendor's host. Standard library only (the test data uses
phonenumbers to check its numbers).
"""

from __future__ import annotations

from typing import Any

from leadflow.platform.crm_sandbox.base import ContractServer
from leadflow.platform.crm_sandbox.data import custom_fields, generate_records
from leadflow.platform.crm_sandbox.hubspot import HubSpotServer
from leadflow.platform.crm_sandbox.pipedrive import PipedriveServer
from leadflow.platform.crm_sandbox.salesforce import SalesforceServer

SERVERS: dict[str, type[ContractServer]] = {
    "hubspot": HubSpotServer,
    "salesforce": SalesforceServer,
    "pipedrive": PipedriveServer,
}


def sandbox(vendor: str, **kwargs: Any) -> ContractServer:
    """A (not yet started) contract server of `vendor`; kwargs go to its constructor."""
    try:
        server = SERVERS[vendor]
    except KeyError:
        raise ValueError(
            f"unknown CRM vendor {vendor!r}; expected one of {sorted(SERVERS)}"
        ) from None
    return server(**kwargs)


__all__ = [
    "SERVERS",
    "ContractServer",
    "HubSpotServer",
    "PipedriveServer",
    "SalesforceServer",
    "custom_fields",
    "generate_records",
    "sandbox",
]
