"""Every asset tells the Dagster UI what it is and who owns it."""

from stock_assets.definitions import build_definitions


def test_every_asset_has_a_description_owners_group_and_kinds():
    for assets in build_definitions().assets:
        for key in assets.keys:
            name = key.to_user_string()
            assert (assets.descriptions_by_key.get(key) or "").strip(), f"{name} has no description"
            assert assets.owners_by_key.get(key), f"{name} has no owners"
            assert assets.group_names_by_key.get(key) not in (None, "default"), f"{name} has no group"
            assert assets.specs_by_key[key].kinds, f"{name} has no kinds"
