"""The CRM sync's errors: every message names the connection, so an operator knows what to fix."""

from __future__ import annotations


class CrmError(RuntimeError):
    """A CRM sync could not run or the CRM refused it; the message names the connection."""


class CrmConfigError(CrmError):
    """A connection is misconfigured (unknown, missing token variable, bad option)."""


class CrmAuthError(CrmError):
    """The CRM answered 401/403: the token in the connection's variable is not accepted."""


class CrmPolicyError(CrmConfigError):
    """leadflow refused what a connection asked for: a secret it may not read, a host it may not
    send a token to, an option that would change a URL."""


class CrmAccessError(CrmError):
    """The database role cannot do the step (a pull writes the raw tables: the pipeline role)."""
