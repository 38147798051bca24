"""Evaluates flags through the official OpenFeature Python SDK and OFREP provider.

Reads a plan (JSON) on stdin, prints the results (JSON) on stdout:
  {"url": SIDECAR_URL,
   "evaluations": [{"type": "boolean"|"string"|"integer"|"float"|"object", "key": ..., "default": ...,
                    "targetingKey": optional}],
   "seed": {"key": ..., "percent": ..., "users": [...]}}   (optional)
For "seed", each user is evaluated through the provider and compared here with the seed
article's function computed by hashlib: int(sha256(f"{key}:{user}").hexdigest(), 16) % 100 < percent.
"""

import hashlib
import json
import sys

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext


def seed_enabled(key: str, user: str, percent: int) -> bool:
    return int(hashlib.sha256(f"{key}:{user}".encode()).hexdigest(), 16) % 100 < percent


def main() -> None:
    plan = json.load(sys.stdin)
    api.set_provider(OFREPProvider(plan["url"]))
    client = api.get_client()
    getters = {
        "boolean": client.get_boolean_details,
        "string": client.get_string_details,
        "integer": client.get_integer_details,
        "float": client.get_float_details,
        "object": client.get_object_details,
    }
    results = []
    for ev in plan.get("evaluations", []):
        ctx = EvaluationContext(targeting_key=ev.get("targetingKey"))
        d = getters[ev["type"]](ev["key"], ev["default"], ctx)
        results.append(
            {
                "key": ev["key"],
                "value": d.value,
                "variant": d.variant,
                "reason": str(d.reason.value if hasattr(d.reason, "value") else d.reason),
                "errorCode": d.error_code.value if d.error_code else None,
            }
        )
    out = {"sdk": "openfeature-sdk (Python)", "results": results}
    seed = plan.get("seed")
    if seed:
        mismatches = []
        enabled = 0
        for user in seed["users"]:
            got = client.get_boolean_value(seed["key"], False, EvaluationContext(targeting_key=user))
            want = seed_enabled(seed["key"], user, seed["percent"])
            enabled += got
            if got != want:
                mismatches.append({"user": user, "got": got, "want": want})
        out["seed"] = {"checked": len(seed["users"]), "enabled": enabled, "mismatches": mismatches}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
