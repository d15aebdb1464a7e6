"""Candidate duplicates (疑似重复件) of a case: open cases of the last N days, nearby, with
similar text.

    from gridgov.insight import duplicates
    duplicates.index_case(case)                   # at intake: one INSERT of BANDS rows
    duplicates.find_duplicates(case, user=user)   # [Candidate(case, score, distance_m, reason)]

How a lookup stays O(1) whatever the number of cases:

1. **Text → MinHash.** The text is the title (and, when the title is short, the start of the
   description), NFKC-normalised, punctuation and spaces removed; its shingles are character
   bigrams minus a short list of words every complaint uses (咨询, 投诉, 问题…). NUM_PERM
   independent hash functions (multiply-shift over a 64-bit mix of the bigram's code points,
   the same in every process) give the signature: the minimum of each over the shingles. Two
   texts agree on one position with probability equal to their Jaccard similarity.
2. **Bands × place → keys.** The signature is cut into BANDS bands of ROWS values; each band,
   with the band's number and the case's *place bucket*, is hashed into one 63-bit key. The
   place bucket is a square cell of DUPLICATE_CELL_M metres (a case with a location) or the
   case's grid (else its region). Two cases share a key when one whole band agrees *and* they
   are in the same bucket.
3. **One table, index lookups.** `DuplicateKey(case, key)` rows are written at intake (one
   bulk INSERT). A lookup asks for the keys of the case's band values in its own cell and the
   eight around it (a radius up to the cell size is covered), and in its grid's bucket — one
   indexed `key IN (…)` query for the case ids, one primary-key query for those cases that are
   open, in the window and visible to the user — then scores the few candidates exactly
   (Jaccard of the shingle sets, distance against the category's radius).

The index lives in the database, so every process sees the same truth; nothing is cached.
Keys include SCHEME (the parameters' version): after a change of parameters old keys simply
stop matching; `gridgov insight reindex-duplicates` rebuilds them.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.utils import timezone

SCHEME = 1
BANDS = 32
ROWS = 2  # band_values() packs two 32-bit values into one 64-bit word
NUM_PERM = BANDS * ROWS
# A title shorter than this many shingles gets the start of the description added.
SHORT_TITLE = 6
DESCRIPTION_CHARS = 30
METRES_PER_DEGREE = 111_320.0

# Bigrams nearly every complaint or enquiry contains; they say nothing about *which* problem.
STOP_BIGRAMS = frozenset({
    "咨询", "投诉", "反映", "举报", "请问", "关于", "问题", "建议", "希望", "请求", "要求", "严重", "什么", "为什", "为何", "何时", "时候", "么时", "如何",
    "怎么", "是否", "能否", "可以", "没有", "不能", "一个", "相关", "部门", "政府", "领导", "您好", "你好", "尊敬", "我们", "本人", "我是", "已经", "一直",
    "现在", "目前", "情况", "处理", "解决", "求解", "落实", "存在", "影响", "合理", "强烈", "谢谢", "居民", "市民", "业主", "百姓", "小区", "的问", "的建",
    "市的", "县的", "区的",
})

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_M64 = (1 << 64) - 1


def _defaults() -> dict:
    g = getattr(settings, "GRIDGOV", {}) or {}
    return {
        "window_days": int(g.get("DUPLICATE_WINDOW_DAYS", 90)),
        "cell_m": float(g.get("DUPLICATE_CELL_M", 300)),
        "default_radius_m": float(g.get("DUPLICATE_DEFAULT_RADIUS_M", 100)),
        "min_similarity": float(g.get("DUPLICATE_MIN_SIMILARITY", 0.2)),
        "max_candidates": int(g.get("DUPLICATE_MAX_CANDIDATES", 500)),
    }


# --- MinHash --------------------------------------------------------------------------------


def _splitmix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _params():
    # Pure-integer generation: the same multipliers in every process, platform and numpy version.
    state, a, b = 0x5EED_D00B, [], []
    for _ in range(NUM_PERM):
        state = _splitmix(state)
        a.append(state | 1)
        state = _splitmix(state)
        b.append(state)
    return np.array(a, dtype=np.uint64), np.array(b, dtype=np.uint64)


_A, _B = _params()
_C1, _C2, _C3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S21, _S30, _S27, _S31, _S32 = np.uint64(21), np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)
_BAND_SALTS = np.array([_splitmix(0xBA4D + i) for i in range(BANDS)], dtype=np.uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 over an array (wrapping arithmetic is the point)."""
    with np.errstate(over="ignore"):
        x = x + _C1
        x = (x ^ (x >> _S30)) * _C2
        x = (x ^ (x >> _S27)) * _C3
        return x ^ (x >> _S31)


def normalise(text: str) -> str:
    return _NON_WORD.sub("", unicodedata.normalize("NFKC", text or "")).lower()


def _bigrams(s: str) -> set[str]:
    if len(s) < 2:
        return {s} if s else set()
    return {s[i : i + 2] for i in range(len(s) - 1)} - STOP_BIGRAMS


def shingles(title: str, description: str = "") -> frozenset[str]:
    """The text's shingle set: bigrams of the title, plus the description's start when the title is short."""
    found = _bigrams(normalise(title))
    if len(found) < SHORT_TITLE:
        found |= _bigrams(normalise(description)[:DESCRIPTION_CHARS])
    return frozenset(found)


def similarity(a: frozenset, b: frozenset) -> float:
    """Jaccard similarity of two shingle sets (what the MinHash estimates)."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def signature(sh: frozenset[str]) -> np.ndarray | None:
    """The MinHash signature (NUM_PERM uint64 values below 2**32), or None for an empty text."""
    if not sh:
        return None
    ids = np.fromiter(((ord(s[0]) << 21) | (ord(s[1]) if len(s) > 1 else 0) for s in sh), dtype=np.uint64, count=len(sh))
    with np.errstate(over="ignore"):
        # One cheap premix spreads the code points over 64 bits, then multiply-add-shift per function.
        base = (ids ^ (ids >> _S21)) * _C2
        hashed = (base[:, None] * _A[None, :] + _B[None, :]) >> _S32
    return hashed.min(axis=0)


def band_values(sig: np.ndarray) -> np.ndarray:
    """One 64-bit value per band: its ROWS (= 2) 32-bit values side by side."""
    bands = sig.reshape(BANDS, ROWS)
    return (bands[:, 0] << _S32) | bands[:, 1]


def key_array(bands: np.ndarray, bucket: int) -> np.ndarray:
    """The index keys of a text's bands in one place bucket, as int64 (all positive: 63 bits).
    Each band has its own salt, so equal values in two bands never share a key."""
    salt = np.uint64(_splitmix((bucket * 0x100 + SCHEME) & _M64))
    return (_mix(bands ^ salt ^ _BAND_SALTS) >> np.uint64(1)).astype(np.int64)


def keys_for(bands: np.ndarray, bucket: int) -> list[int]:
    """key_array() as Python integers, for the database."""
    return key_array(bands, bucket).tolist()


def keys_in(bands: np.ndarray, buckets: list[int]) -> np.ndarray:
    """The keys of a text in several buckets at once (a lookup's cells), flat int64."""
    salts = np.array([_splitmix((b * 0x100 + SCHEME) & _M64) for b in buckets], dtype=np.uint64)
    return (_mix(bands[None, :] ^ salts[:, None] ^ _BAND_SALTS[None, :]) >> np.uint64(1)).astype(np.int64).ravel()


# --- place buckets --------------------------------------------------------------------------


def _cell(lat: float, lon: float, cell_m: float) -> tuple[int, int]:
    dlat = cell_m / METRES_PER_DEGREE
    iy = math.floor(lat / dlat)
    return iy, math.floor(lon / _dlon(iy, dlat, cell_m))


def _dlon(iy: int, dlat: float, cell_m: float) -> float:
    # The width of a row in degrees of longitude, from the latitude of the row's centre: every
    # process computes the same cells, and a cell is at least cell_m wide within it.
    centre = (iy + 0.5) * dlat
    return cell_m / (METRES_PER_DEGREE * max(math.cos(math.radians(centre)), 0.01))


def _cell_bucket(iy: int, ix: int) -> int:
    return _splitmix(((iy & 0xFFFFFFFF) << 32) | (ix & 0xFFFFFFFF))


def _place_bucket(kind: str, pk: int) -> int:
    return _splitmix((ord(kind) << 56) ^ (pk & ((1 << 56) - 1)))


def home_bucket(*, lat, lon, grid_id, region_id, cell_m: float) -> int:
    """Where a case's keys are filed: its cell when it has a location, else its grid, else its region."""
    if lat is not None and lon is not None:
        return _cell_bucket(*_cell(lat, lon, cell_m))
    if grid_id is not None:
        return _place_bucket("g", grid_id)
    return _place_bucket("r", region_id or 0)


def search_buckets(*, lat, lon, grid_id, region_id, cell_m: float) -> list[int]:
    """The buckets a lookup reads: the cells within cell_m of the location (and the grid's), or the grid/region."""
    if lat is None or lon is None:
        return [home_bucket(lat=None, lon=None, grid_id=grid_id, region_id=region_id, cell_m=cell_m)]
    dlat = cell_m / METRES_PER_DEGREE
    iy = math.floor(lat / dlat)
    found = []
    for row in (iy - 1, iy, iy + 1):
        dlon = _dlon(row, dlat, cell_m)
        # cell_m in degrees of longitude at this row, widened a little for the latitude inside the row.
        reach = dlon * 1.001
        for ix in range(math.floor((lon - reach) / dlon), math.floor((lon + reach) / dlon) + 1):
            found.append(_cell_bucket(row, ix))
    if grid_id is not None:
        found.append(_place_bucket("g", grid_id))
    return found


def distance_m(lat1, lon1, lat2, lon2) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(h)))


# --- the fingerprint of one text ------------------------------------------------------------


@dataclass(frozen=True)
class Fingerprint:
    shingles: frozenset
    bands: np.ndarray | None

    @classmethod
    def of(cls, title: str, description: str = "") -> Fingerprint:
        sh = shingles(title, description)
        sig = signature(sh)
        return cls(sh, band_values(sig) if sig is not None else None)


# --- the scoring rule, shared by the database lookup and the benchmarks ----------------------


@dataclass(frozen=True)
class Verdict:
    score: float
    distance_m: float | None
    radius_m: float
    reason: str


def judge(fp: Fingerprint, other: frozenset, *, here, there, radius_m: float, min_similarity: float,
          same_place: bool) -> Verdict | None:
    """Whether a candidate is a duplicate: text similarity at least `min_similarity`, and within
    `radius_m` when both have a location (else in the same grid/region: `same_place`)."""
    score = similarity(fp.shingles, other)
    if score < min_similarity:
        return None
    if here is not None and there is not None:
        d = distance_m(here[0], here[1], there[0], there[1])
        if d > radius_m:
            return None
        return Verdict(score, d, radius_m, f"文本相似度 {score:.2f}，相距 {d:.0f} 米（半径 {radius_m:.0f} 米内）")
    if not same_place:
        return None
    return Verdict(score, None, radius_m, f"文本相似度 {score:.2f}，同一网格/区划（无坐标）")


# --- the database index ---------------------------------------------------------------------


def _radius(category, default: float, cell_m: float) -> float:
    radius = float(category.duplicate_radius_m) if category is not None and category.duplicate_radius_m else default
    # The lookup reads the cells within one cell size; a larger radius could not be honoured.
    return min(radius, cell_m)


def index_case(case, *, fingerprint: Fingerprint | None = None) -> int:
    """File a case's keys (one bulk INSERT); returns the number of keys written (0 for no text)."""
    from .models import DuplicateKey

    fp = fingerprint or Fingerprint.of(case.title, case.description)
    if fp.bands is None:
        return 0
    cfg = _defaults()
    bucket = home_bucket(lat=case.lat, lon=case.lon, grid_id=case.grid_id, region_id=case.region_id, cell_m=cfg["cell_m"])
    _file_keys(DuplicateKey._meta.db_table, case.pk, list(keys_for(fp.bands, bucket)))
    return BANDS


def _file_keys(table: str, case_id: int, keys: list[int]) -> None:
    """One INSERT of the case's keys, in plain SQL: building 32 model instances and letting
    the ORM prepare them cost more CPU than the rest of the duplicate work at intake."""
    from django.db import connection

    table = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"INSERT INTO {table} (case_id, key) SELECT %s, k FROM unnest(%s::bigint[]) AS k",  # noqa: S608
                           [case_id, keys])
        else:
            rows = ", ".join(["(%s, %s)"] * len(keys))
            cursor.execute(f"INSERT INTO {table} (case_id, key) VALUES {rows}",  # noqa: S608 (placeholders only)
                           [v for k in keys for v in (case_id, k)])


def _case_ids_for(keys: list[int]) -> set[int]:
    """The cases filed under any of these keys: one indexed query. Plain SQL because the ORM
    spends more time preparing 320 integer parameters than the database spends answering."""
    from django.db import connection

    from .models import DuplicateKey

    table = connection.ops.quote_name(DuplicateKey._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT case_id FROM {table} WHERE key IN ({', '.join(['%s'] * len(keys))})", keys)  # noqa: S608 (placeholders only)
        return {row[0] for row in cursor.fetchall()}


@dataclass(frozen=True)
class Candidate:
    case: object  # gridgov.cases.models.Case
    score: float
    distance_m: float | None
    radius_m: float
    reason: str


def find_duplicates(case, *, user=None, limit: int = 10, window_days: int | None = None) -> list[Candidate]:
    """Open cases of the window that look like duplicates of `case`, best first.

    With `user`, only cases that user may see (`Case.objects.restrict(user)`). One indexed query
    for the case ids under the keys, one for those cases; their texts are scored in the process."""
    from gridgov.cases.models import Case


    cfg = _defaults()
    fp = Fingerprint.of(case.title, case.description)
    if fp.bands is None:
        return []
    buckets = search_buckets(lat=case.lat, lon=case.lon, grid_id=case.grid_id, region_id=case.region_id, cell_m=cfg["cell_m"])
    keys = keys_in(fp.bands, buckets).tolist()
    since = (case.reported_at or timezone.now()) - timedelta(days=window_days or cfg["window_days"])
    # Two index-driven queries: the keys give case ids (index on key), the ids give the cases (primary
    # key). One semi-join would do, but planners may then walk every open case of the window.
    ids = _case_ids_for(keys)
    ids.discard(case.pk)
    if not ids:
        return []
    qs = Case.objects.restrict(user) if user is not None else Case.objects.all()
    rows = list(
        qs.filter(pk__in=ids, is_open=True, reported_at__gte=since)
        .exclude(pk=case.pk)
        .select_related("category")
        .only("number", "title", "description", "lat", "lon", "grid_id", "region_id", "status", "reported_at",
              "category__code", "category__name", "category__duplicate_radius_m")
        .order_by("-reported_at")[: cfg["max_candidates"]]
    )
    here = (case.lat, case.lon) if case.lat is not None else None
    found = []
    for other in rows:
        radius = _radius(case.category if case.category_id else other.category, cfg["default_radius_m"], cfg["cell_m"])
        same_place = (other.grid_id == case.grid_id) if case.grid_id else (other.region_id == case.region_id)
        verdict = judge(fp, shingles(other.title, other.description), here=here,
                        there=(other.lat, other.lon) if other.lat is not None else None,
                        radius_m=radius, min_similarity=cfg["min_similarity"], same_place=same_place)
        if verdict is not None:
            found.append(Candidate(other, verdict.score, verdict.distance_m, verdict.radius_m, verdict.reason))
    found.sort(key=lambda c: (-c.score, c.distance_m if c.distance_m is not None else math.inf, -c.case.reported_at.timestamp()))
    return found[:limit]


def reindex(*, window_days: int | None = None, batch: int = 2000) -> int:
    """Rebuild the keys of the open cases of the window (after a parameter change, or for cases
    written without intake); returns the number of cases indexed."""
    from django.db import transaction

    from gridgov.cases.models import Case

    from .models import DuplicateKey

    cfg = _defaults()
    since = timezone.now() - timedelta(days=window_days or cfg["window_days"])
    count = 0
    with transaction.atomic():
        DuplicateKey.objects.all().delete()
        qs = Case.objects.filter(is_open=True, reported_at__gte=since).only(
            "title", "description", "lat", "lon", "grid_id", "region_id").order_by("pk")
        rows = []
        for case in qs.iterator(chunk_size=batch):
            fp = Fingerprint.of(case.title, case.description)
            if fp.bands is None:
                continue
            bucket = home_bucket(lat=case.lat, lon=case.lon, grid_id=case.grid_id, region_id=case.region_id, cell_m=cfg["cell_m"])
            rows.extend(DuplicateKey(case_id=case.pk, key=k) for k in keys_for(fp.bands, bucket))
            count += 1
            if len(rows) >= batch * BANDS // 4:
                DuplicateKey.objects.bulk_create(rows)
                rows = []
        DuplicateKey.objects.bulk_create(rows)
    return count


def prune(*, window_days: int | None = None) -> int:
    """Delete the keys of cases that are closed or older than the window; they can never match."""
    from gridgov.cases.models import Case

    from .models import DuplicateKey

    cfg = _defaults()
    since = timezone.now() - timedelta(days=window_days or cfg["window_days"])
    stale = Case.objects.filter(is_open=False) | Case.objects.filter(reported_at__lt=since)
    deleted, _ = DuplicateKey.objects.filter(case_id__in=stale.values("pk")).delete()
    return deleted
