"""The territory: administrative regions, grids and micro-grids.

Every node of the tree carries a materialised ``path`` (codes joined by dots, ending
with a dot) so that "this node and everything below it" is one indexed prefix query on
SQLite and PostgreSQL alike. Geometry is stored as GeoJSON (WGS-84) with its bounding
box in plain columns; Shapely does the geometry in the process.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RegionLevel(models.TextChoices):
    PROVINCE = "province", _("省")
    CITY = "city", _("市")
    DISTRICT = "district", _("区县")
    STREET = "street", _("街道乡镇")
    COMMUNITY = "community", _("社区村")


# Depth order of the administrative levels, top first.
LEVEL_ORDER = [RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.DISTRICT, RegionLevel.STREET, RegionLevel.COMMUNITY]
# Length of a stored division code per level. Province, city and district use the 6-digit
# GB/T 2260 form (350000, 350500, 350502), as official tables and the county boundaries do;
# streets 9 digits, communities/villages 12 (the statistical code's own extensions).
CODE_LENGTH = {
    RegionLevel.PROVINCE: 6,
    RegionLevel.CITY: 6,
    RegionLevel.DISTRICT: 6,
    RegionLevel.STREET: 9,
    RegionLevel.COMMUNITY: 12,
}


class CodeSystem(models.TextChoices):
    NBS = "nbs", _("统计用区划代码 (国家统计局)")
    MCA = "mca", _("行政区划代码 (民政部)")


class Region(models.Model):
    """An administrative region (行政区划): city, district/county, street/township or
    community/village, with its division code in a named code system and year."""

    code = models.CharField(_("区划代码"), max_length=12)
    name = models.CharField(_("名称"), max_length=100)
    level = models.CharField(_("层级"), max_length=12, choices=RegionLevel.choices)
    parent = models.ForeignKey("self", models.PROTECT, null=True, blank=True, related_name="children", verbose_name=_("上级"))
    code_system = models.CharField(_("代码体系"), max_length=8, choices=CodeSystem.choices, default=CodeSystem.NBS)
    code_year = models.PositiveSmallIntegerField(_("代码年份"), default=2023)
    path = models.CharField(_("路径"), max_length=255, unique=True, editable=False)
    geometry = models.JSONField(_("边界 (GeoJSON, WGS-84)"), null=True, blank=True)
    centroid_lat = models.FloatField(null=True, blank=True)
    centroid_lon = models.FloatField(null=True, blank=True)

    class Meta:
        verbose_name = _("行政区划")
        verbose_name_plural = _("行政区划")
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["code_system", "code"], name="region_code_unique_per_system"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def save(self, *args, **kwargs):
        self.path = (self.parent.path if self.parent_id else "") + self.code + "."
        super().save(*args, **kwargs)

    def ancestor_paths(self) -> list[str]:
        """The materialised paths of the regions above this one, top first."""
        parts = self.path.split(".")[:-1]
        return [".".join(parts[: i + 1]) + "." for i in range(len(parts) - 1)]

    def ancestors(self) -> list["Region"]:
        """Regions above this one, top first: one query on the materialised paths, without
        their boundaries (load those explicitly where a polygon is needed)."""
        paths = self.ancestor_paths()
        if not paths:
            return []
        return list(Region.objects.filter(path__in=paths).defer("geometry").order_by("path"))


class GridKind(models.TextChoices):
    COMMUNITY = "community", _("社区网格")
    VILLAGE = "village", _("村网格")
    SPECIAL = "special", _("专属网格")


class TerritoryQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view") -> "TerritoryQuerySet":
        """The rows within the user's jurisdiction (accounts decides whose territory is what)."""
        from gridgov.accounts.scoping import path_scope_q  # accounts builds on places: import late

        return self.filter(path_scope_q(user, "path"))


class Territory(models.Model):
    """Common columns of grids and micro-grids: a code, a polygon and its bounding box."""

    code = models.CharField(_("编码"), max_length=24, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    geometry = models.JSONField(_("边界 (GeoJSON, WGS-84)"))
    min_lon = models.FloatField(editable=False, default=0)
    min_lat = models.FloatField(editable=False, default=0)
    max_lon = models.FloatField(editable=False, default=0)
    max_lat = models.FloatField(editable=False, default=0)
    path = models.CharField(_("路径"), max_length=255, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TerritoryQuerySet.as_manager()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def set_bbox(self) -> None:
        from shapely.geometry import shape

        self.min_lon, self.min_lat, self.max_lon, self.max_lat = shape(self.geometry).bounds


class Grid(Territory):
    """A unit grid (网格): the smallest territory with named people responsible for it,
    300–500 households in a city, a natural village in the countryside. Its code is the
    community's 12-digit code plus a sequence numbered west→east, north→south."""

    region = models.ForeignKey(Region, models.PROTECT, related_name="grids", verbose_name=_("所属社区/村"))
    kind = models.CharField(_("网格类型"), max_length=12, choices=GridKind.choices, default=GridKind.COMMUNITY)
    special_type = models.CharField(_("专属网格类别"), max_length=40, blank=True, help_text=_("学校、医院、工业园区…"))
    households = models.PositiveIntegerField(_("户数"), default=0)
    target_min_households = models.PositiveIntegerField(_("目标户数下限"), default=300)
    target_max_households = models.PositiveIntegerField(_("目标户数上限"), default=500)

    class Meta:
        verbose_name = _("网格")
        verbose_name_plural = _("网格")
        ordering = ["code"]

    def save(self, *args, **kwargs):
        self.path = self.region.path + self.code + "."
        self.set_bbox()
        super().save(*args, **kwargs)

    @property
    def households_in_target(self) -> bool:
        """Shown, not enforced: is the household count within the target band?"""
        return self.target_min_households <= self.households <= self.target_max_households


class MicroGrid(Territory):
    """A micro-grid (微网格): a building, a stairwell or a block within one grid; its code
    extends its grid's code."""

    grid = models.ForeignKey(Grid, models.CASCADE, related_name="micro_grids", verbose_name=_("所属网格"))
    households = models.PositiveIntegerField(_("户数"), default=0)

    class Meta:
        verbose_name = _("微网格")
        verbose_name_plural = _("微网格")
        ordering = ["code"]

    def save(self, *args, **kwargs):
        self.path = self.grid.path + self.code + "."
        self.set_bbox()
        super().save(*args, **kwargs)


class SpatialIndexState(models.Model):
    """One row of reference-data versions (参考数据版本) that processes cache: `version`
    changes whenever grids or regions change, so that every process rebuilds its in-memory
    spatial index from the database (no process-local truth); `catalog_version` does the
    same for the category tree. One query reads both (see `places.versions`)."""

    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(auto_now=True)
    catalog_version = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("空间索引版本")
        verbose_name_plural = _("空间索引版本")
