"""`schema.graphql` is the exported SDL of the code (DESIGN.md contract 9)."""

from pathlib import Path

from graphql import build_schema

from gql_app.graphql.schema import schema

SCHEMA_FILE = Path(__file__).parents[2] / "schema.graphql"


def test_schema_file_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == schema.as_str() + "\n", (
        "schema.graphql is out of date: run `gql-app export-schema > schema.graphql`"
    )


def test_every_type_field_and_argument_is_described() -> None:
    undocumented = []
    for type_ in build_schema(SCHEMA_FILE.read_text()).type_map.values():
        if type_.name.startswith("__") or type_.name in ("String", "Int", "Boolean", "ID"):
            continue
        if not type_.description:
            undocumented.append(type_.name)
        for name, field in getattr(type_, "fields", {}).items():
            if not field.description:
                undocumented.append(f"{type_.name}.{name}")
            for argument_name, argument in getattr(field, "args", {}).items():
                if not argument.description:
                    undocumented.append(f"{type_.name}.{name}({argument_name})")
        for name, value in getattr(type_, "values", {}).items():
            if not value.description:
                undocumented.append(f"{type_.name}.{name}")
    assert undocumented == []
