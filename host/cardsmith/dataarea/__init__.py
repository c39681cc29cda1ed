"""The data area (applet class DataStore/DataArea, CLI group `cardsmith data`): regions and their bytes."""

from .session import DataAreaSession, Region, parse_region_table

__all__ = ["DataAreaSession", "Region", "parse_region_table"]
