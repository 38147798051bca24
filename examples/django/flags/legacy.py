"""The article's flag layer, unchanged: what the application used before Flagwright."""

import hashlib

from flags.models import FeatureFlag


def flag_enabled(key, user=None):
    flag = FeatureFlag.objects.filter(key=key).first()
    if not flag or not flag.enabled:
        return False
    if user and flag.allowed_users.filter(pk=user.pk).exists():
        return True
    if flag.rollout_percent >= 100:
        return True
    if not user:
        return False
    bucket = int(hashlib.sha256(f"{key}:{user.pk}".encode()).hexdigest(), 16) % 100
    return bucket < flag.rollout_percent
