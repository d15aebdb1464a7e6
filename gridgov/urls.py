from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from gridgov.api import api

urlpatterns = [
    # One hardened sign-in for the whole site (lockout, 2FA, forced change): the admin's own
    # login form would skip it.
    path("admin/login/", RedirectView.as_view(pattern_name="accounts:login", query_string=True)),
    path("accounts/", include("gridgov.accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("gridgov.web.urls")),
]

# security: error pages without any detail of the error (JSON under /api/, Chinese pages elsewhere).
handler400 = "gridgov.security.views.bad_request"
handler403 = "gridgov.security.views.permission_denied"
handler404 = "gridgov.security.views.not_found"
handler500 = "gridgov.security.views.server_error"
