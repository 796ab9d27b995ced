"""The portal's names a subscription's filters take: its detailed categories and its provinces, as the eTenders
portal lists them (portal_taxonomy.json, from data/ocds/etenders-za/portal_categories.json and
portal_provinces.json) and as tenders.detailed_category and tenders.province hold them."""

import json
from importlib import resources

_TAXONOMY = json.loads(
    resources.files("tender_sync.alerts").joinpath("portal_taxonomy.json").read_text(encoding="utf-8")
)

CATEGORIES: frozenset[str] = frozenset(_TAXONOMY["categories"])
PROVINCES: frozenset[str] = frozenset(_TAXONOMY["provinces"])
