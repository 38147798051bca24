"""The same `flag_enabled(key, user=None)` as the article, answered by the Flagwright sidecar.

Call sites do not change. The flag lives in a FeatureFlag resource instead of a table; the sidecar
evaluates it with the article's own hash (sha256 of "<key>:<user id>", mod 100), so every user
keeps the bucket they had. The user's primary key is the OpenFeature targeting key, and the
article's allow-list becomes the resource's `allowedUsers` (primary keys as strings).

One deliberate difference: a user without a primary key (Django's AnonymousUser) counts as no
user, as `flag_enabled(key)` did; the article's code would have hashed "<key>:None".
"""

import os

from django.conf import settings
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext

_DOMAIN = "flagwright"


def _headers() -> dict[str, str]:
    # OFREP ADR 0007: "Name=value,Name2=value2" (a shared evaluator needs Authorization).
    raw = os.environ.get("OFREP_HEADERS", "")
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {name.strip(): value.strip() for name, value in pairs}


def configure() -> None:
    timeout_ms = float(os.environ.get("OFREP_TIMEOUT", "1000"))
    headers = _headers()
    api.set_provider(
        OFREPProvider(
            settings.OFREP_ENDPOINT,
            headers_factory=(lambda: headers) if headers else None,
            timeout=timeout_ms / 1000,
        ),
        _DOMAIN,
    )


def flag_enabled(key, user=None):
    pk = getattr(user, "pk", None) if user else None
    context = EvaluationContext(targeting_key=str(pk)) if pk is not None else EvaluationContext()
    # Any failure (sidecar down, unknown flag, no user for a partial rollout) answers False, as the
    # article's function does for a flag it cannot find.
    return api.get_client(_DOMAIN).get_boolean_value(key, False, context)
