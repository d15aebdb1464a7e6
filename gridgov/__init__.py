"""gridgov: grid-based grassroots social governance (网格化服务管理)."""

__version__ = "0.1.0"
