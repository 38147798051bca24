from django.contrib.auth.models import User
from django.http import HttpResponse

from flags.flagwright import flag_enabled


def checkout(request, user_id: int):
    user = User(pk=user_id)
    return HttpResponse("new" if flag_enabled("new-checkout", user) else "old", content_type="text/plain")
