"""Who sees a case's personal data (reporter's and followers' names and phones) and how.

- The public and residents other than the reporter: nothing (no name, no contact).
- The reporter: their own name; the phone masked like everyone's.
- Staff: masked values (张*, 138****5678).
- A department handler while a case is assigned to their department and open: full
  values (GB/T 35273 §7.1 e); the access ends when the case is transferred or closed.
- Staff of the reveal roles: full values through an explicit, audited reveal with a
  purpose code (`POST /api/cases/{number}/reveal`).
"""

from django.conf import settings

from gridgov.accounts.models import Role
from gridgov.errors import Forbidden
from gridgov.privacy import vault
from gridgov.privacy.masking import mask_name, mask_phone

from .models import Case, CaseFollower

REVEAL_FIELDS = ["reporter_name", "reporter_phone"]
DEFAULT_REVEAL_ROLES = {Role.COMMUNITY_STAFF, Role.DISPATCHER, Role.DEPARTMENT_HANDLER}


def reveal_roles() -> set[str]:
    return set(getattr(settings, "GRIDGOV_PRIVACY", {}).get("REVEAL_ROLES") or DEFAULT_REVEAL_ROLES)


def assigned_handler(user, case: Case) -> bool:
    """Is `user` a handler of the department the open case is assigned to right now?"""
    return bool(
        user is not None and user.is_authenticated and user.role == Role.DEPARTMENT_HANDLER and user.department_id
        and case.is_open and case.owner_department_id == user.department_id
    )


def may_reveal(user, case: Case) -> bool:
    if user is None or not user.is_authenticated or user.role not in reveal_roles():
        return False
    # A handler's right follows the assignment, like their unmasked view.
    return user.role != Role.DEPARTMENT_HANDLER or assigned_handler(user, case)


def reporter_view(case: Case, user) -> dict:
    """The reporter block of a case as `user` may see it."""
    staff = user.is_superuser or user.role != Role.RESIDENT
    anonymous = case.reporter_public_anonymous
    if assigned_handler(user, case):
        return {"name": case.reporter_name, "phone": case.reporter_phone, "public_anonymous": anonymous}
    if staff:
        return {"name": mask_name(case.reporter_name), "phone": mask_phone(case.reporter_phone), "public_anonymous": anonymous}
    if case.reporter_id is not None and case.reporter_id == user.pk:
        return {"name": case.reporter_name, "phone": mask_phone(case.reporter_phone), "public_anonymous": anonymous}
    return {"name": None, "phone": None, "public_anonymous": anonymous}


def reveal(*, actor, case: Case, purpose: str) -> dict:
    """The case's reporter and followers in full, for a stated purpose; audited."""
    if not may_reveal(actor, case):
        raise Forbidden("您无权查看该案件的个人信息明文", "You may not reveal this case's personal data", code="reveal_forbidden")
    followers = list(CaseFollower.objects.filter(case=case).order_by("pk"))
    result = vault.reveal(actor=actor, obj=case, fields=REVEAL_FIELDS, purpose=purpose, extra=followers)
    return {
        "number": case.number, "purpose": result["purpose"],
        "reporter": {"name": result["values"]["reporter_name"], "phone": result["values"]["reporter_phone"]},
        "followers": [{"name": f["name"], "phone": f["phone"]} for f in result["related"]],
    }


def filter_by_reporter_phone(user, qs, phone: str):
    """Cases whose reporter has this phone, found through the blind index (never by
    decrypting); only the reveal roles may search by a person's number, and it is audited."""
    from gridgov.privacy import keys
    from gridgov.privacy.fields import normalise_for_index
    from gridgov.privacy.services import audit

    if user is None or not user.is_authenticated or user.role not in reveal_roles():
        raise Forbidden("您无权按电话号码查找案件", "You may not search cases by phone number", code="search_forbidden")
    digest = keys.blind_index("phone", normalise_for_index("phone", phone))
    audit(actor=user, action="pi.search", object_type="cases.case", object_id="", data={"field": "reporter_phone"})
    return qs.filter(reporter_phone_bidx=digest)
