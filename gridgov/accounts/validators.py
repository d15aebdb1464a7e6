"""Password rules beyond Django's own (SECURITY.md R1): three character classes, and none of
the last few passwords again. Both plug into AUTH_PASSWORD_VALIDATORS, so every path that
sets a password through validation (our pages, the admin, `changepassword`) applies them."""

from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


def character_classes(password: str) -> int:
    """How many of lower case, upper case, digits and other characters the password uses."""
    return sum((
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ))


class CharacterClassesValidator:
    """At least `min_classes` of: lower case, upper case, digits, other characters."""

    def __init__(self, min_classes: int = 3):
        self.min_classes = min_classes

    def validate(self, password, user=None):
        if character_classes(password) < self.min_classes:
            raise ValidationError(
                _("密码须包含大写字母、小写字母、数字、符号中的至少%(n)d类") % {"n": self.min_classes},
                code="password_too_simple",
            )

    def get_help_text(self):
        return _("至少包含大写字母、小写字母、数字、符号中的%(n)d类") % {"n": self.min_classes}


class PasswordHistoryValidator:
    """Not the current password nor one of the `history` before it; remembers each new one."""

    def __init__(self, history: int = 5):
        self.history = history

    def _recent(self, user) -> list[str]:
        from .models import PasswordHistory

        return list(PasswordHistory.objects.filter(user=user).values_list("encoded", flat=True)[: self.history])

    def validate(self, password, user=None):
        if user is None or not getattr(user, "pk", None):
            return
        from .models import User

        current = User.objects.filter(pk=user.pk).values_list("password", flat=True).first()
        for encoded in [current, *self._recent(user)]:
            if encoded and check_password(password, encoded):
                raise ValidationError(
                    _("不能使用最近%(n)d次用过的密码") % {"n": self.history}, code="password_reused",
                )

    def password_changed(self, password, user=None):
        """Called after a new password is saved: keep its hash, drop the ones too old to matter."""
        from .models import PasswordHistory

        if user is None or not user.pk or not user.has_usable_password():
            return
        PasswordHistory.objects.create(user=user, encoded=user.password)
        stale = PasswordHistory.objects.filter(user=user).values_list("pk", flat=True)[self.history:]
        PasswordHistory.objects.filter(pk__in=list(stale)).delete()

    def get_help_text(self):
        return _("不能与最近%(n)d次用过的密码相同") % {"n": self.history}
