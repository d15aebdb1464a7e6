"""The HTTP API (django-ninja) under /api/; each app contributes a router.

Every answer that is not a success has one shape, whatever went wrong and wherever:

    {"error": {"code": "...", "message_zh": "...", "message_en": "...", "details": {...}}}

Domain refusals keep their own status and code (`gridgov.errors`); request validation is
422 `invalid_input` with the field errors in `details.fields`; a missing credential 401
`unauthenticated`; unknown routes and objects 404 `not_found`; a wrong method 405; and an
unexpected exception is logged and answered 500 `internal_error`, never an HTML page.
"""

import functools
import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404, HttpResponseNotAllowed
from django.http.multipartparser import MultiPartParserError
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from gridgov.accounts.api import API_AUTH
from gridgov.accounts.api import router as accounts_router
from gridgov.cases.api import router as cases_router
from gridgov.errors import DomainError
from gridgov.insight.api import router as insight_router
from gridgov.insight.case_api import router as insight_case_router
from gridgov.places.api import router as places_router
from gridgov.privacy.audit_api import router as audit_router
from gridgov.privacy.services import audit

logger = logging.getLogger("gridgov.api")


class GridgovAPI(NinjaAPI):
    """NinjaAPI whose URL patterns also answer wrong methods and unknown paths in JSON."""

    def _get_urls(self):
        patterns = super()._get_urls()
        for pattern in patterns:
            callback = getattr(pattern, "callback", None)
            if callback is not None:
                pattern.callback = _json_not_allowed(callback)
        patterns.append(re_path(r"^.*$", csrf_exempt(self._unknown_route), name="unknown-route"))
        return patterns

    def get_openapi_schema(self, **kwargs):
        """Ninja's document, plus the error answers every operation can give (see the module
        docstring), so clients and schema-driven fuzzers know them; an operation that
        declares one itself keeps its own."""
        schema = super().get_openapi_schema(**kwargs)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("ErrorOut", _ERROR_SCHEMA)
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                for status, description in _DECLARED_ERRORS.items():
                    responses.setdefault(str(status), {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
                    })
        return schema

    def _unknown_route(self, request, *args, **kwargs):
        return error_response(request, 404, "not_found", "请求的接口不存在", "No such endpoint", {"path": request.path})


# Error answers any operation may give; 5xx is never declared: it is always a bug.
_DECLARED_ERRORS = {
    400: "Bad request (unparsable JSON, malformed form)",
    401: "Authentication required",
    403: "Forbidden (role, jurisdiction level or CSRF)",
    404: "Not found, or outside the caller's jurisdiction",
    409: "Not allowed in the object's current state",
    413: "Request too large",
    415: "Unsupported content type",
    422: "Invalid input",
    429: "Too many requests",
}
_ERROR_SCHEMA = {
    "title": "ErrorOut", "type": "object", "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message_zh", "message_en", "details"],
        "properties": {"code": {"type": "string"}, "message_zh": {"type": "string"}, "message_en": {"type": "string"},
                       "details": {"type": "object"}},
    }},
}


_list_parameters: frozenset[str] | None = None


def _repeated_scalar(request) -> str | None:
    """A query parameter given more than once that no operation declares as a list: the
    request does not say which value it means, so it is refused instead of guessed."""
    global _list_parameters
    repeated = [key for key, values in request.GET.lists() if len(values) > 1]
    if not repeated:
        return None
    if _list_parameters is None:
        names = set()
        for operations in api.get_openapi_schema()["paths"].values():
            for operation in operations.values():
                for param in operation.get("parameters", []):
                    schema = param.get("schema", {})
                    types = [schema.get("type")] + [s.get("type") for s in schema.get("anyOf", [])]
                    if param.get("in") == "query" and "array" in types:
                        names.add(param["name"])
        _list_parameters = frozenset(names)
    return next((key for key in repeated if key not in _list_parameters), None)


def _json_not_allowed(view):
    # functools.wraps copies the view's attributes, csrf_exempt included.
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if (name := _repeated_scalar(request)) is not None:
            return error_response(request, 422, "invalid_input", f"参数“{name}”只能提供一次", f"Query parameter {name!r} given more than once",
                                  {"field": name})
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            json_response = error_response(
                request, 405, "method_not_allowed", f"不支持{request.method}方法", f"Method {request.method} not allowed",
                {"allowed": [m.strip() for m in allowed.split(",") if m.strip()]},
            )
            json_response["Allow"] = allowed
            return json_response
        return response

    return wrapper


api = GridgovAPI(
    title="gridgov API",
    version="1",
    description=(
        "网格化服务管理平台接口 · Grid-based governance platform API.\n\n"
        "Authenticate with `Authorization: Bearer ggv_…` or a signed-in session (unsafe methods "
        "need the `X-CSRFToken` header). Errors: `{\"error\": {\"code\", \"message_zh\", "
        "\"message_en\", \"details\"}}`."
    ),
    urls_namespace="api",
    auth=API_AUTH,
)


def error_response(request, status: int, code: str, message_zh: str, message_en: str, details: dict | None = None):
    if status in (403, 404):
        _audit_denial(request, status, code)
    body = {"error": {"code": code, "message_zh": message_zh, "message_en": message_en, "details": details or {}}}
    return api.create_response(request, body, status=status)


# --- exception handlers ----------------------------------------------------------------

# Chinese for the pydantic error types a client meets most.
_FIELD_MESSAGES_ZH = {
    "missing": "必填",
    "extra_forbidden": "不支持的字段",
    "string_too_long": "内容过长",
    "string_too_short": "内容过短",
    "string_type": "须为文本",
    "int_parsing": "须为整数",
    "int_type": "须为整数",
    "int_from_float": "须为整数",
    "float_parsing": "须为数字",
    "float_type": "须为数字",
    "finite_number": "须为有限数值",
    "bool_parsing": "须为 true 或 false",
    "bool_type": "须为 true 或 false",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "date_type": "日期格式应为 YYYY-MM-DD",
    "literal_error": "取值无效",
    "enum": "取值无效",
    "greater_than_equal": "超出允许范围",
    "less_than_equal": "超出允许范围",
    "greater_than": "超出允许范围",
    "less_than": "超出允许范围",
    "too_long": "数量过多",
    "list_type": "须为列表",
    "dict_type": "须为对象",
    "model_attributes_type": "须为对象",
    "string_pattern_mismatch": "格式无效",
}


def _field_errors(errors) -> list[dict]:
    fields = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        source = loc[0] if loc else ""
        # ninja puts the parameter's own name after the source ("body", "payload", …);
        # clients know fields, not our parameter names.
        names = [p for p in loc[1:] if p not in {"payload", "filters", "params"}]
        field = ".".join(names) or source
        kind = error.get("type", "")
        fields.append(
            {
                "field": field,
                "in": source,
                "type": kind,
                "message_zh": _FIELD_MESSAGES_ZH.get(kind, "取值无效"),
                "message_en": str(error.get("msg", "")),
            }
        )
    return fields


def _audit_denial(request, status: int, code: str) -> None:
    """An authenticated caller refused (403) or sent to "does not exist" (404, also what an
    out-of-jurisdiction object answers) leaves an access-control failure record (R14).
    Anonymous probes and unknown routes do not: they have no actor to account for."""
    if getattr(request, "_gridgov_denial_audited", False):
        return
    user = getattr(request, "auth", None)
    if user is None or not getattr(user, "pk", None):
        user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False) or code == "not_found" and _route_unknown(request):
        return
    request._gridgov_denial_audited = True
    try:
        audit(actor=user, action="access.denied", object_type="api.request", object_id=request.method,
              result="failure", data={"status": status, "code": code, "method": request.method, "path": request.path[:200]})
    except Exception:  # the refusal stands whether or not its record could be written
        logger.exception("could not audit a denied %s %s", request.method, request.path)


def _route_unknown(request) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and match.url_name == "unknown-route"


@api.exception_handler(DomainError)
def _domain_error(request, exc: DomainError):
    if exc.status in (403, 404):
        _audit_denial(request, exc.status, exc.code)
    return api.create_response(request, {"error": exc.as_dict()}, status=exc.status)


@api.exception_handler(NinjaValidationError)
def _validation_error(request, exc: NinjaValidationError):
    fields = _field_errors(exc.errors)
    listed = "；".join(f"{f['field']}：{f['message_zh']}" for f in fields[:8])
    return error_response(
        request, 422, "invalid_input", f"提交的数据有误，请检查：{listed}" if listed else "提交的数据有误",
        "Invalid input", {"field": fields[0]["field"] if fields else "", "fields": fields},
    )


@api.exception_handler(DjangoValidationError)
def _django_validation_error(request, exc: DjangoValidationError):
    messages = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    return error_response(request, 422, "invalid_input", "提交的数据有误", "Invalid input", {"fields": messages})


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return error_response(request, 401, "unauthenticated", "请先登录", "Authentication required")


_HTTP_CODES = {
    400: ("bad_request", "请求无效", "Bad request"),
    401: ("unauthenticated", "请先登录", "Authentication required"),
    403: ("forbidden", "无权执行此操作", "Forbidden"),
    404: ("not_found", "对象不存在", "Not found"),
    405: ("method_not_allowed", "不支持该请求方法", "Method not allowed"),
    413: ("payload_too_large", "提交的内容过大", "Request too large"),
    415: ("unsupported_media_type", "不支持的内容类型", "Unsupported media type"),
    429: ("throttled", "请求过于频繁，请稍后再试", "Too many requests"),
}


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    code, zh, en = _HTTP_CODES.get(exc.status_code, ("error", "请求失败", "Request failed"))
    if exc.status_code == 400 and "parse" in exc.message.lower():
        code, zh, en = "invalid_json", "请求体不是有效的JSON", "The request body is not valid JSON"
    return error_response(request, exc.status_code, code, zh, en)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error_response(request, 404, "not_found", "对象不存在", "Not found")


@api.exception_handler(PermissionDenied)
def _permission_denied(request, exc):
    return error_response(request, 403, "forbidden", "无权执行此操作", "Forbidden")


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return error_response(request, 413, "payload_too_large", "提交的内容过大", "Request too large")


@api.exception_handler(SuspiciousOperation)
def _suspicious(request, exc):
    return error_response(request, 400, "bad_request", "请求无效", "Bad request")


@api.exception_handler(DataError)
def _data_error(request, exc):
    # Input validation should have caught it; the database refusing a value is still the
    # client's bad input, not a server fault.
    logger.warning("Database refused a value on %s %s: %s", request.method, request.path, exc)
    return error_response(request, 422, "invalid_input", "提交的数据超出允许范围", "A value is out of range")


@api.exception_handler(MultiPartParserError)
def _bad_multipart(request, exc):
    return error_response(request, 400, "invalid_form", "表单数据格式无效", "Malformed multipart form data")


@api.exception_handler(Exception)
def _unexpected(request, exc):
    logger.exception("Unhandled API error on %s %s", request.method, request.path)
    return error_response(request, 500, "internal_error", "服务器内部错误，请稍后再试", "Internal server error")


# --- routes ----------------------------------------------------------------------------


@api.get("/health", tags=["meta"], auth=None)
def health(request):
    return {"status": "ok"}


api.add_router("/", accounts_router)
api.add_router("/", places_router)
api.add_router("/", cases_router)
api.add_router("/", insight_router)
api.add_router("/", insight_case_router)
api.add_router("/", audit_router)
