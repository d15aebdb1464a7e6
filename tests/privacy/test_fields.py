"""Encrypted fields at rest (R20): round trip, associated data, blind index, ciphers."""

import pytest
from django.core import serializers
from django.core.exceptions import FieldError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from gridgov.accounts.models import User
from gridgov.cases import services as cs
from gridgov.cases.models import Case, CaseFollower
from gridgov.privacy import crypto, keys
from gridgov.privacy.fields import Sealed, normalise_for_index

NAME, PHONE = "金丝雀甲", "13912340001"


def report(w, **kw):
    args = {"actor": w.users["worker"], "channel": "patrol", "title": "路边暴露垃圾", "category": w.cats["litter"],
            "grid": w.grids[0], "reporter_name": NAME, "reporter_phone": PHONE}
    args.update(kw)
    return cs.report_case(**args)


def raw_row(table: str, pk: int, *columns: str) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()


def test_round_trip_and_raw_columns(w):
    case = report(w)
    stored_name, stored_phone, bidx = raw_row("cases_case", case.pk, "reporter_name", "reporter_phone", "reporter_phone_bidx")
    assert stored_phone.startswith("g1:a:") and PHONE not in stored_phone and NAME not in stored_name
    assert bidx == keys.blind_index("phone", PHONE)
    fresh = Case.objects.get(pk=case.pk)
    assert (fresh.reporter_name, fresh.reporter_phone) == (NAME, PHONE)
    assert fresh.pi_subject.subject == f"tel:{bidx}"


def test_full_width_and_prefixed_phone_is_one_person(w):
    a = report(w, reporter_phone="１３９１２３４０００１")
    b = report(w, reporter_phone="+86 139-1234-0001")
    assert a.reporter_phone == b.reporter_phone == PHONE
    assert a.pi_subject_id == b.pi_subject_id and a.reporter_phone_bidx == b.reporter_phone_bidx


def test_moving_a_ciphertext_to_another_row_or_column_fails(w):
    a, b = report(w), report(w, reporter_name="另一人", reporter_phone="13912340002")
    stolen = raw_row("cases_case", a.pk, "reporter_phone")[0]
    Case.objects.filter(pk=b.pk).update(reporter_phone=Sealed(stolen))
    with pytest.raises(crypto.DecryptionError):
        _ = Case.objects.get(pk=b.pk).reporter_phone
    # Same row, other column: the column is bound too.
    Case.objects.filter(pk=a.pk).update(reporter_name=Sealed(stolen))
    with pytest.raises(crypto.DecryptionError):
        _ = Case.objects.get(pk=a.pk).reporter_name
    assert Case.objects.get(pk=a.pk).reporter_phone == PHONE  # the original still opens


def test_flipped_byte_is_rejected(w):
    case = report(w)
    stored = raw_row("cases_case", case.pk, "reporter_phone")[0]
    body = stored[-8:]
    tampered = stored[:-8] + ("A" if body[0] != "A" else "B") + body[1:]
    Case.objects.filter(pk=case.pk).update(reporter_phone=Sealed(tampered))
    with pytest.raises(crypto.DecryptionError):
        _ = Case.objects.get(pk=case.pk).reporter_phone


def test_lookups_on_ciphertext_are_refused(w):
    report(w)
    with pytest.raises(TypeError, match="blind index"):
        list(Case.objects.filter(reporter_phone=PHONE))
    with pytest.raises(FieldError):
        list(Case.objects.filter(reporter_phone__contains="139"))
    with pytest.raises(TypeError), transaction.atomic():
        Case.objects.update(reporter_phone=PHONE)
    assert Case.objects.filter(reporter_phone_bidx=keys.blind_index("phone", PHONE)).count() == 1
    assert Case.objects.filter(reporter_phone="").count() == 0


def test_an_untouched_save_writes_the_same_envelope(w):
    case = report(w)
    before = raw_row("cases_case", case.pk, "reporter_phone")[0]
    fresh = Case.objects.get(pk=case.pk)
    fresh.title = "改个标题"
    with CaptureQueriesContext(connection) as ctx:
        fresh.save()
    assert len(ctx.captured_queries) == 1  # no key look-up, no re-encryption
    assert raw_row("cases_case", case.pk, "reporter_phone")[0] == before


def test_sm4_setting_and_mixed_ciphers(w, settings):
    aes = report(w)
    settings.GRIDGOV_PRIVACY = {**settings.GRIDGOV_PRIVACY, "CIPHER": "sm4-gcm"}
    sm4 = report(w, reporter_phone="13912340003")
    assert raw_row("cases_case", sm4.pk, "reporter_phone")[0].startswith("g1:s:")
    assert Case.objects.get(pk=sm4.pk).reporter_phone == "13912340003"
    assert Case.objects.get(pk=aes.pk).reporter_phone == PHONE  # older AES rows still open


def test_serialisation_carries_ciphertext(w):
    case = report(w)
    text = serializers.serialize("json", Case.objects.filter(pk=case.pk))
    assert PHONE not in text and NAME not in text and "g1:a:" in text
    restored = next(serializers.deserialize("json", text)).object
    assert restored.reporter_phone == PHONE


def test_user_phone_encrypted_and_rebound_on_change(w):
    user = w.users["staff"]
    user.phone = "13912340009"
    user.save()
    first_key = User.objects.get(pk=user.pk).pi_subject_id
    assert "13912340009" not in raw_row("accounts_user", user.pk, "phone")[0]
    user = User.objects.get(pk=user.pk)
    assert user.phone == "13912340009"
    user.phone = "13912340010"
    user.save()
    again = User.objects.get(pk=user.pk)
    assert again.phone == "13912340010" and again.pi_subject_id != first_key
    assert again.phone_bidx == keys.blind_index("phone", "13912340010")


def test_reporter_defaults_to_the_actor_and_merge_keeps_the_person(w):
    staff = w.users["staff"]
    staff.phone = "13912340011"
    staff.save()
    staff = User.objects.get(pk=staff.pk)
    case = report(w, actor=staff, reporter_name="", reporter_phone="")
    assert case.reporter_phone == "13912340011" and case.pi_subject_id == staff.pi_subject_id
    survivor = cs.accept_case(actor=w.users["dispatcher"], case=report(w, reporter_phone="13912340012"))
    cs.merge_case(actor=w.users["dispatcher"], case=case, into=survivor)
    follower = CaseFollower.objects.get(case=survivor)
    assert (follower.name, follower.phone) == (staff.display_name, "13912340011")
    assert follower.pi_subject_id == staff.pi_subject_id
    assert "13912340011" not in raw_row("cases_casefollower", follower.pk, "phone")[0]


def test_invalid_phone_is_a_clear_error(w):
    from gridgov.errors import InvalidInput

    for bad in ("12012345678", "14012345678", "1381234567x", "123"):
        with pytest.raises(InvalidInput) as exc:
            report(w, reporter_phone=bad)
        assert exc.value.details == {"field": "reporter_phone"}


def test_normalise_for_index():
    assert normalise_for_index("phone", "+86 (138) 1234-5678") == "13812345678"
    assert normalise_for_index("phone", "0086１３８１２３４５６７８") == "13812345678"
    assert normalise_for_index("id_number", "11010519491231002x") == "11010519491231002X"
    assert normalise_for_index("id_number", "110105491231002") == "110105194912310021"[:17] + normalise_for_index(
        "id_number", "110105491231002")[-1]


def test_intake_adds_at_most_one_query(w, django_capture_on_commit_callbacks):
    """A report with a first-time reporter costs one query more than one without a phone
    (the key upsert); a returning reporter, once the key is cached, none."""

    def count(**kw):
        with CaptureQueriesContext(connection) as ctx, django_capture_on_commit_callbacks(execute=True):
            report(w, **kw)
        return len(ctx.captured_queries)

    worker = w.users["worker"]
    worker.display_name = ""  # so that a report without name and phone holds no personal data
    worker.save()
    count(reporter_name="", reporter_phone="")  # warm caches (categories, locate) on both paths
    without = count(reporter_name="", reporter_phone="")
    assert count(reporter_phone="13912349999") == without + 1
    assert count(reporter_phone="13912349999") == without
