"""Categories, departments, the matrix's gaps and /me."""

from gridgov.cases.models import Category

from .conftest import error_of


def test_categories_tree_with_limits(as_user, w):
    Category.objects.create(code="03", name="已停用分类", active=False)
    tree = as_user("resident").get("/categories").json()
    assert [c["code"] for c in tree] == ["01", "02"]
    top = tree[0]
    assert [c["code"] for c in top["children"]] == ["0101", "0102"]
    litter = top["children"][0]
    assert litter["normal_limit"] == 2 and litter["normal_limit_unit"] == "working_days"
    assert litter["urgent_limit_hours"] == 24 and litter["self_resolvable"] is True and litter["children"] == []
    everything = as_user("resident").get("/categories", {"include_inactive": "true"}).json()
    assert [c["code"] for c in everything] == ["01", "02", "03"]
    assert error_of(as_user(None).get("/categories"), 401)["code"] == "unauthenticated"
    assert error_of(as_user("resident").get("/categories", {"include_inactive": "sometimes"}), 422)


def test_departments_scoped_to_territory_and_its_ancestors(as_user, w):
    def codes(user):
        return [d["code"] for d in as_user(user).get("/departments").json()]

    everything = ["350502-CG", "350502001-ZF", "350502001001-WY", "350502002-ZF"]
    assert sorted(codes("admin")) == sorted(everything)
    # The street dispatcher: the district above, its own street and the community below.
    assert sorted(codes("dispatcher")) == ["350502-CG", "350502001-ZF", "350502001001-WY"]
    assert sorted(codes("dispatcher2")) == ["350502-CG", "350502002-ZF"]
    assert sorted(codes("staff")) == ["350502-CG", "350502001-ZF", "350502001001-WY"]
    assert codes("resident") == [] and codes("auditor") == []
    first = as_user("dispatcher").get("/departments").json()[0]
    assert first["region"] == {"code": "350502", "name": "鲤城区"} and first["region_level"] == "district"
    assert error_of(as_user(None).get("/departments"), 401)["code"] == "unauthenticated"


def test_matrix_gaps_for_admins_only(as_user, w):
    gaps = as_user("admin").get("/matrix/gaps").json()
    assert {"category": "02", "name": "道路破损", "level": "street"} in gaps
    assert not any(g["category"].startswith("01") and g["level"] == "street" for g in gaps)
    for user in ["dispatcher", "leader", "resident", "auditor"]:
        assert error_of(as_user(user).get("/matrix/gaps"), 403)["code"] == "role_forbidden"
    assert error_of(as_user(None).get("/matrix/gaps"), 401)["code"] == "unauthenticated"


def test_me(as_user, w):
    me = as_user("worker").get("/me").json()
    assert me["username"] == "worker" and me["role"] == "grid_worker" and me["role_label"] == "网格员"
    assert me["grid"]["code"] == w.grids[0].code and me["region"]["code"] == w.community.code
    assert me["scope_path"] == w.grids[0].path
    assert me["actions"] == ["correct_location", "report", "self_resolve", "verify"]
    handler = as_user("handler").get("/me").json()
    assert handler["department"]["code"] == "350502001-ZF"
    admin = as_user("admin").get("/me").json()
    assert admin["is_superuser"] is True and "dispatch" in admin["actions"]
    assert error_of(as_user(None).get("/me"), 401)["code"] == "unauthenticated"
