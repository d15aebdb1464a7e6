"""Error handlers (gridgov/urls.py): nothing of the error reaches the user, whatever DEBUG says
about the logs. API paths answer the API's JSON error shape; pages answer in Chinese."""

from .middleware import error_response


def server_error(request, *args, **kwargs):
    return error_response(request, 500, "internal_error", "服务器内部错误，请稍后再试", "Internal server error",
                          template="500.html")


def not_found(request, exception=None, *args, **kwargs):
    return error_response(request, 404, "not_found", "页面不存在", "Not found", template="404.html")


def permission_denied(request, exception=None, *args, **kwargs):
    return error_response(request, 403, "forbidden", "无权执行此操作", "Forbidden", template="403.html")


def bad_request(request, exception=None, *args, **kwargs):
    return error_response(request, 400, "bad_request", "请求无效", "Bad request", template="400.html")


def csrf_failure(request, reason="", template_name=None):
    """CSRF_FAILURE_VIEW: the reason stays in the log, the user gets a plain instruction."""
    return error_response(request, 403, "csrf_failed", "表单已过期或来源不可信，请刷新页面后重试", "CSRF check failed",
                          template="403.html")
