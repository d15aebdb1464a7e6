"""The HTTP API (django-ninja) under /api/; each app contributes a router."""

from ninja import NinjaAPI

from gridgov.cases.api import router as cases_router
from gridgov.places.api import router as places_router

api = NinjaAPI(
    title="gridgov API",
    version="1",
    description="网格化服务管理平台接口 · Grid-based governance platform API",
    urls_namespace="api",
)


@api.get("/health", tags=["meta"], auth=None)
def health(request):
    return {"status": "ok"}


api.add_router("/", places_router)
api.add_router("/", cases_router)
