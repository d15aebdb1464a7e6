"""Admin-site rights from the role table (permissions as data).

Django's admin asks `user.has_perm("app.verb_model")`. Besides the per-user and group
permissions of ModelBackend, this backend answers from the user's roles: each
administrative action of the role → action table opens a fixed set of admin models. That
is how 三员分立 reaches the admin: the system administrator manages accounts and
configuration, the security administrator the role table, the auditor only reads the log.
"""

from django.contrib.auth.backends import ModelBackend

from .permissions import can

ALL = frozenset({"view", "add", "change", "delete"})
VIEW = frozenset({"view"})

# action → {"app_label.model": verbs}; "app_label.*" covers every model of the app.
ADMIN_RIGHTS: dict[str, dict[str, frozenset[str]]] = {
    "manage_accounts": {
        "accounts.user": ALL, "accounts.post": ALL, "accounts.apitoken": frozenset({"view", "change"}),
        "otp_totp.totpdevice": frozenset({"view", "delete"}), "axes.accessattempt": frozenset({"view", "delete"}),
    },
    "manage_config": {
        "places.*": ALL, "cases.category": ALL, "cases.department": ALL, "cases.responsibilityrule": ALL,
        "cases.calendaryear": ALL, "cases.calendarday": ALL,
    },
    "manage_roles": {"accounts.roleaction": ALL, "accounts.post": VIEW, "accounts.user": VIEW},
    "read_audit": {"privacy.auditrecord": VIEW, "accounts.loginevent": VIEW},
}


def _role_allows(user, app_label: str, model: str | None, verb: str | None) -> bool:
    if not (user.is_active and user.is_staff):
        return False
    for action, models in ADMIN_RIGHTS.items():
        for key, verbs in models.items():
            app, _, name = key.partition(".")
            if app != app_label or (model is not None and name not in ("*", model)):
                continue
            if (verb is None or verb in verbs) and can(user, action):
                return True
    return False


class RoleModelBackend(ModelBackend):
    def has_perm(self, user_obj, perm, obj=None):
        if super().has_perm(user_obj, perm, obj):
            return True
        app_label, _, codename = perm.partition(".")
        verb, _, model = codename.partition("_")
        return _role_allows(user_obj, app_label, model, verb)

    def has_module_perms(self, user_obj, app_label):
        return super().has_module_perms(user_obj, app_label) or _role_allows(user_obj, app_label, None, None)
