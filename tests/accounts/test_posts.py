"""Several posts (岗位) per user: rights and territory are the union; one post costs nothing extra."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gridgov.accounts import services
from gridgov.accounts.models import Post, Role, User
from gridgov.accounts.permissions import can
from gridgov.accounts.scoping import path_scope_q, territory_paths
from gridgov.cases import services as cs
from gridgov.cases.models import Case
from gridgov.places.models import Grid

pytestmark = pytest.mark.django_db


def test_union_of_posts(w):
    staff = w.users["staff"]  # community staff of 金山 (street 1)
    mine = cs.report_case(actor=w.users["worker"], channel="patrol", title="本社区", grid=w.grids[0])
    far = cs.report_case(actor=w.users["worker_other"], channel="patrol", title="另一街道", grid=w.grids[3])
    assert set(Case.objects.restrict(staff).values_list("pk", flat=True)) == {mine.pk}
    assert not can(staff, "decide_extension")
    # also dispatcher of the other street
    services.add_post(actor=w.users["admin"], user=staff, role=Role.DISPATCHER, region=w.street2)
    staff = User.objects.get(pk=staff.pk)
    assert staff.has_extra_posts
    assert set(Case.objects.restrict(staff).values_list("pk", flat=True)) == {mine.pk, far.pk}
    assert can(staff, "decide_extension") and can(staff, "self_resolve")
    assert set(territory_paths(staff)) == {w.community.path, w.street2.path}
    assert Grid.objects.filter(path_scope_q(staff)).count() == 4 - 1  # 金山 two grids + 聚宝's one
    # the extra post also lets them act on a case in the other street (command level)
    assert cs.accept_case(actor=staff, case=far, category=w.cats["litter"]).status == "accepted"
    # ending the post ends the rights
    services.remove_post(actor=w.users["admin"], post=Post.objects.get(user=staff))
    staff = User.objects.get(pk=staff.pk)
    assert not staff.has_extra_posts
    assert set(Case.objects.restrict(staff).values_list("pk", flat=True)) == {mine.pk}


def test_nested_posts_do_not_duplicate_conditions(w):
    dispatcher = w.users["district_dispatcher"]
    services.add_post(actor=None, user=dispatcher, role=Role.GRID_LEADER, grid=w.grids[0])
    dispatcher = User.objects.get(pk=dispatcher.pk)
    assert territory_paths(dispatcher) == [w.district.path]


def test_single_post_needs_no_post_query(w):
    worker = User.objects.get(username="worker")
    with CaptureQueriesContext(connection) as queries:
        worker.roles  # noqa: B018
        can(worker, "report")
    assert not any("accounts_post" in q["sql"] for q in queries.captured_queries)
    with CaptureQueriesContext(connection) as queries:
        path_scope_q(worker)
    assert len(queries) == 1 and "accounts_post" not in queries.captured_queries[0]["sql"]  # the grid's path only


def test_roles_without_territory_cost_no_query(w):
    resident = User.objects.get(username="resident")
    with CaptureQueriesContext(connection) as queries:
        assert territory_paths(resident) == []
        path_scope_q(resident)
    assert len(queries) == 0
