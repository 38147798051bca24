from django.urls import path

from flags import views

urlpatterns = [
    path("checkout/<int:user_id>/", views.checkout),
]
