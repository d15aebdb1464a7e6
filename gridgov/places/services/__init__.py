"""Domain operations on the territory: importing division codes and grids, numbering and
exporting grids. The only place that changes places data; each writer runs in one
transaction, writes an audit record and bumps the spatial index version when grids change.
"""

from .common import (  # noqa: F401
    HIERARCHY_COLUMNS,
    MAX_ERRORS,
    OUTSIDE_TOLERANCE_M2,
    OUTSIDE_TOLERANCE_SHARE,
    OVERLAP_TOLERANCE_M2,
    OVERLAP_TOLERANCE_SHARE,
    PARENT_COLUMNS,
    bump_index_version,
    level_of,
    normalise_code,
    parent_code,
    significant_prefix,
)
from .divisions import (  # noqa: F401
    import_divisions,
)
from .grids import (  # noqa: F401
    check_polygon,
    delete_territory,
    grid_sequence_width,
    import_grids,
    micro_grid_sequence_width,
    number_grids,
    reading_order,
    save_territory,
)
from .queries import (  # noqa: F401
    export_grids,
    find_region,
    grid_feature,
    grids_visible_to,
)
