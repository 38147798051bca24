"""Run against a real Flagwright sidecar (OFREP_ENDPOINT) serving the flag the environment names:

  FLAGWRIGHT_EXAMPLE_FLAG      flag key (default new-checkout)
  FLAGWRIGHT_EXAMPLE_PERCENT   its rollout percent in the FeatureFlag resource
  FLAGWRIGHT_EXAMPLE_ALLOWED   its allowedUsers, comma-separated user primary keys

test/integration/examples/django.test.ts sets these up with the operator on a local control plane.
"""

import os

from django.contrib.auth.models import User
from django.test import TestCase

from flags import flagwright, legacy
from flags.models import FeatureFlag

KEY = os.environ.get("FLAGWRIGHT_EXAMPLE_FLAG", "new-checkout")


class MigrationKeepsBuckets(TestCase):
    @classmethod
    def setUpTestData(cls):
        if "OFREP_ENDPOINT" not in os.environ or "FLAGWRIGHT_EXAMPLE_PERCENT" not in os.environ:
            raise RuntimeError(
                "these tests need a Flagwright sidecar: set OFREP_ENDPOINT and FLAGWRIGHT_EXAMPLE_PERCENT "
                "(test/integration/examples/django.test.ts does)"
            )
        percent = int(os.environ["FLAGWRIGHT_EXAMPLE_PERCENT"])
        allowed = [int(pk) for pk in os.environ.get("FLAGWRIGHT_EXAMPLE_ALLOWED", "").split(",") if pk]
        User.objects.bulk_create(User(pk=pk, username=f"user{pk}") for pk in range(1, 1001))
        # The article's table, holding the same flag as the FeatureFlag resource.
        flag = FeatureFlag.objects.create(key=KEY, enabled=True, rollout_percent=percent)
        flag.allowed_users.set(User.objects.filter(pk__in=allowed))
        cls.allowed = allowed

    def test_every_user_keeps_the_bucket_the_article_gave_them(self):
        users = list(User.objects.order_by("pk"))
        self.assertEqual(len(users), 1000)
        before = [legacy.flag_enabled(KEY, u) for u in users]
        after = [flagwright.flag_enabled(KEY, u) for u in users]
        moved = [u.pk for u, b, a in zip(users, before, after) if b != a]
        self.assertEqual(moved, [], "users whose answer changed when moving to Flagwright")
        # Neither everyone nor no one: the comparison means something.
        self.assertTrue(0 < sum(after) < 1000)
        for pk in self.allowed:
            self.assertTrue(flagwright.flag_enabled(KEY, User(pk=pk)))

    def test_no_user_is_off_in_both(self):
        self.assertEqual(legacy.flag_enabled(KEY), flagwright.flag_enabled(KEY))
        self.assertFalse(flagwright.flag_enabled(KEY))

    def test_unknown_flag_is_off_in_both(self):
        user = User.objects.get(pk=1)
        self.assertFalse(legacy.flag_enabled("no-such-flag", user))
        self.assertFalse(flagwright.flag_enabled("no-such-flag", user))

    def test_the_view_asks_the_sidecar(self):
        pk = next(u.pk for u in User.objects.order_by("pk") if legacy.flag_enabled(KEY, u))
        self.assertEqual(self.client.get(f"/checkout/{pk}/").content, b"new")
