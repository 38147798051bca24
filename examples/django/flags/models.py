"""The article's model, kept only so the migration can be checked against it (flags/legacy.py)."""

from django.contrib.auth.models import User
from django.db import models


class FeatureFlag(models.Model):
    key = models.SlugField(unique=True)
    enabled = models.BooleanField(default=False)
    rollout_percent = models.PositiveSmallIntegerField(default=0)  # 0-100
    allowed_users = models.ManyToManyField(User, blank=True)
