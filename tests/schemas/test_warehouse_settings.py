"""The `warehouse:` settings: catalog strings in one canonical spelling, passwords refused
without being echoed, data paths absolute."""

import pytest
from pydantic import ValidationError

from schemas.config import PipelineConfig, validate_config
from schemas.errors import ConfigError
from schemas.warehouse import WarehouseSettings, normalise_catalog, parse_conninfo


@pytest.mark.parametrize(("given", "canonical"), [
    ("", "duckdb"),
    ("DuckDB", "duckdb"),
    ("postgres:user=t host=127.0.0.1  dbname=lake", "postgres:dbname=lake host=127.0.0.1 user=t"),
    ("ducklake:postgres:dbname = lake port=5433", "postgres:dbname=lake port=5433"),
    ("postgres:dbname='my lake' host=h", "postgres:dbname='my lake' host=h"),
    ("postgresql://t@127.0.0.1:5433/lake", "postgres:postgresql://t@127.0.0.1:5433/lake"),
    ("postgres:postgresql://t@h/lake?sslmode=require", "postgres:postgresql://t@h/lake?sslmode=require"),
])
def test_catalog_strings_have_one_spelling(given, canonical):
    assert normalise_catalog(given) == canonical


def test_conninfo_quoting_round_trips():
    assert parse_conninfo(r"dbname='it\'s here' host=a\ b") == {"dbname": "it's here", "host": "a b"}
    text = normalise_catalog(r"postgres:dbname='it\'s here'")
    assert parse_conninfo(text.removeprefix("postgres:")) == {"dbname": "it's here"}


@pytest.mark.parametrize("bad", ["sqlite:x.db", "postgres:", "postgres:dbname", "postgres:=x", "/tmp/catalog.ducklake"])
def test_other_catalogs_are_refused_with_the_forms(bad):
    with pytest.raises(ValueError, match="catalog must be 'duckdb' or 'postgres:'"):
        normalise_catalog(bad)


@pytest.mark.parametrize("catalog", [
    "postgres:dbname=x password=hunter2", "postgres:password='hunter2' dbname=x",
    "postgresql://u:hunter2@h/x", "postgres:postgresql://u@h/x?password=hunter2",
])
def test_passwords_are_refused_and_never_echoed(catalog):
    with pytest.raises(ValidationError) as refused:
        WarehouseSettings(catalog=catalog)
    assert "PGPASSWORD" in str(refused.value) and "hunter2" not in str(refused.value)
    with pytest.raises(ConfigError) as in_config:
        validate_config({"sources": [{"name": "a", "paths": ["x"]}], "warehouse": {"catalog": catalog}},
                        {(): 1, ("warehouse", "catalog"): 9}, "p.yaml")
    assert str(in_config.value).startswith("p.yaml:9: warehouse.catalog: ") and "hunter2" not in str(in_config.value)
    with pytest.raises(ValidationError) as whole:
        PipelineConfig.model_validate({"sources": [{"name": "a", "paths": ["x"]}], "warehouse": {"catalog": catalog}})
    assert "hunter2" not in str(whole.value)


def test_data_path_is_absolute_and_local():
    assert WarehouseSettings(data_path="/mnt/lake").data_path == "/mnt/lake/"
    for bad in ("relative/data", "s3://bucket/lake"):
        with pytest.raises(ValidationError, match="data_path"):
            WarehouseSettings(data_path=bad)


def test_a_request_agrees_when_it_names_nothing_more():
    bound = WarehouseSettings(catalog="postgres:dbname=a")
    assert bound.agrees_with(WarehouseSettings(catalog="postgres:dbname=a"), "/h/data/")
    assert bound.agrees_with(WarehouseSettings(catalog="postgres:dbname=a", data_path="/h/data"), "/h/data/")
    assert not bound.agrees_with(WarehouseSettings(catalog="postgres:dbname=a", data_path="/elsewhere"), "/h/data/")
    assert not bound.agrees_with(WarehouseSettings(catalog="postgres:dbname=b"), "/h/data/")
