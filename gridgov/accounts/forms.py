"""Sign-in forms. Errors are shown next to their field, in Chinese."""

from django import forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

# One message for an unknown user, a wrong password and a locked account alike (R2).
LOGIN_FAILED = _("用户名或密码错误。连续失败5次后账号和IP将被锁定30分钟。")


class LoginForm(forms.Form):
    username = forms.CharField(label=_("用户名"), max_length=150,
                               widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}))
    password = forms.CharField(label=_("密码"), max_length=256, strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class OtpForm(forms.Form):
    token = forms.RegexField(label=_("动态口令"), regex=r"^\d{6,8}$", max_length=8,
                             error_messages={"invalid": _("请输入验证器应用显示的6位数字")},
                             widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                                           "autofocus": True}))


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(label=_("原密码"), strip=False, max_length=256,
                                   widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}))
    new_password1 = forms.CharField(label=_("新密码"), strip=False, max_length=256,
                                    widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                                    help_text=password_validation.password_validators_help_text_html)
    new_password2 = forms.CharField(label=_("确认新密码"), strip=False, max_length=256,
                                    widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def __init__(self, user, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_old_password(self):
        value = self.cleaned_data["old_password"]
        if not self.user.check_password(value):
            raise forms.ValidationError(_("原密码不正确"), code="password_incorrect")
        return value

    def clean(self):
        data = super().clean()
        p1, p2 = data.get("new_password1"), data.get("new_password2")
        if p1 and p2 and p1 != p2:
            self.add_error("new_password2", _("两次输入的新密码不一致"))
        elif p1:
            try:
                password_validation.validate_password(p1, self.user)
            except forms.ValidationError as exc:
                self.add_error("new_password1", exc)
        return data
