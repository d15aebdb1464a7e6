from django.contrib import admin
from django.urls import include, path

from gridgov.api import api

urlpatterns = [
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
