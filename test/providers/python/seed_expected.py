"""The seed article's answer for each user, by Python's hashlib (for providers in other languages).

stdin: {"key": ..., "percent": ..., "users": [...]}; stdout: [true, false, ...] in the same order.
"""

import hashlib
import json
import sys

plan = json.load(sys.stdin)
key, percent = plan["key"], plan["percent"]
json.dump(
    [int(hashlib.sha256(f"{key}:{user}".encode()).hexdigest(), 16) % 100 < percent for user in plan["users"]],
    sys.stdout,
)
