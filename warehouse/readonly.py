"""Warehouse layer: user SQL that can only read (`teachable sql`).

DuckDB runs whatever SQL it is given, so read-only is built from three fences; every statement
must pass all three, and nothing runs until every statement of the text has passed fences 2 and 3.

1. The connection (`ReadOnlySql`): a DuckDB instance of its own, never the pipeline's. The
   extensions it needs are LOADed from their pinned wheels (nothing is installed), the DuckLake
   catalog is attached READ_ONLY (no snapshot, table or option can change; on PostgreSQL the
   metadata is read in READ ONLY transactions), then external access is switched off with only
   the lake's data folder readable, plus every local path unless files are off (reading your own
   files is the point of a local analyst tool), no extension can be loaded or installed,
   secrets, extensions and spills go to a private scratch folder removed on close, and last
   `lock_configuration` freezes every setting: no later SET/RESET/PRAGMA undoes any of it.
   DuckDB's allowed paths cannot tell reading from writing, so this fence alone stops every
   file write only with files off, and even then not inside the data folder: DuckLake writes
   there on a READ_ONLY catalog too (CHECKPOINT, ducklake_flush_inlined_data and CREATE TABLE
   leave files or folders; ducklake_cleanup_old_files deletes files).
2. Statement classes, from DuckDB's own parser: only SELECT (WITH, PIVOT/UNPIVOT, DESCRIBE,
   SUMMARIZE, SHOW, FROM-first, VALUES, and the pragmas DuckDB rewrites into a SELECT, such as
   `PRAGMA table_info`) and EXPLAIN [ANALYZE] of a SELECT: EXPLAIN ANALYZE runs its statement,
   so that statement is parsed and judged too. COPY, EXPORT, IMPORT, ATTACH, INSTALL/LOAD, SET,
   PRAGMA, CALL, CREATE, DML, CHECKPOINT, transactions... are refused. (A PIVOT without an IN
   list makes DuckDB generate a temporary ENUM type first; that CREATE is let through.)
3. Functions: a SELECT can still call a function with side effects (DuckLake's maintenance
   functions, enable_logging(), whose log files the locked configuration does not stop, query()
   and other dynamic SQL). Every name called in the text that DuckDB knows as a table function
   must be on `READ_TABLE_FUNCTIONS`, and no scalar function that writes may be called.

Several statements in one string are allowed when every one of them is; they run in order and
the last one's result is returned.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from itertools import pairwise
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from schemas.errors import UserError

# Table-valued functions that only read (files, the lake's metadata, DuckDB's own catalog); any
# other name DuckDB knows as a table function (or pragma) is refused, so a new one is refused
# until it is added here.
READ_TABLE_FUNCTIONS = frozenset({
    # files
    "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
    "read_json_objects", "read_json_objects_auto", "read_ndjson", "read_ndjson_auto",
    "read_ndjson_objects", "read_text", "read_blob", "sniff_csv", "glob", "parquet_metadata",
    "parquet_schema", "parquet_file_metadata", "parquet_kv_metadata", "parquet_full_metadata",
    "parquet_bloom_probe",
    # generators
    "range", "generate_series", "unnest", "repeat", "repeat_row", "json_each", "json_tree",
    "icu_calendar_names", "pg_timezone_names", "test_all_types", "test_vector_types",
    # DuckDB's catalog
    "duckdb_columns", "duckdb_constraints", "duckdb_databases", "duckdb_dependencies",
    "duckdb_extensions", "duckdb_functions", "duckdb_indexes", "duckdb_keywords", "duckdb_schemas",
    "duckdb_sequences", "duckdb_settings", "duckdb_tables", "duckdb_types", "duckdb_views",
    "duckdb_variables", "duckdb_secrets", "duckdb_secret_types", "duckdb_memory",
    "duckdb_temporary_files", "duckdb_optimizers", "duckdb_prepared_statements",
    "duckdb_approx_database_count", "duckdb_connection_count", "duckdb_external_file_cache",
    "duckdb_log_contexts", "duckdb_logs", "duckdb_table_sample", "duckdb_coordinate_systems",
    "which_secret", "pragma_collations", "pragma_database_size", "pragma_metadata_info",
    "pragma_platform", "pragma_show", "pragma_storage_info", "pragma_table_info",
    "pragma_user_agent", "pragma_version", "table_info", "storage_info", "database_size",
    "metadata_info", "version", "platform", "user_agent", "collations", "show", "functions",
    "database_list", "show_databases", "show_tables", "show_tables_expanded", "extension_versions",
    "summary", "histogram", "histogram_values", "duckdb_logs_parsed", "duckdb_profiling_settings",
    # DuckLake's metadata, as ducklake_<name>(catalog, ...) or <catalog>.<name>(...)
    "ducklake_snapshots", "ducklake_table_info", "ducklake_list_files", "ducklake_table_insertions",
    "ducklake_table_deletions", "ducklake_table_changes", "ducklake_current_snapshot",
    "ducklake_last_committed_snapshot", "ducklake_options", "ducklake_settings", "snapshots",
    "list_files", "table_insertions", "table_deletions", "table_changes", "current_snapshot",
    "last_committed_snapshot", "options", "settings",
})
# Table functions of the postgres extension, refused by name even where it is not loaded.
POSTGRES_TABLE_FUNCTIONS = frozenset({
    "postgres_attach", "postgres_configure_pool", "postgres_execute", "postgres_query", "postgres_scan",
    "postgres_scan_pushdown", "pg_clear_cache", "read_postgres_binary",
})
# Scalar functions that change state (the log; sequences).
WRITING_SCALAR_FUNCTIONS = frozenset({"write_log", "nextval"})

# DuckDB statement types -> the words a user knows them by.
_STATEMENT_WORDS = {
    "COPY_DATABASE": "COPY FROM DATABASE", "LOAD": "INSTALL/LOAD", "SET": "SET/RESET/USE/PRAGMA",
    "VARIABLE_SET": "SET VARIABLE", "MERGE_INTO": "MERGE", "VACUUM": "VACUUM/ANALYZE",
    "TRANSACTION": "transaction (BEGIN/COMMIT/ROLLBACK)", "MULTI": "multi-part",
}
_IDENTIFIER = re.compile(r'"((?:[^"]|"")*)"|([^\W\d][\w$]*)')
_TOKEN = duckdb.token_type


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def refusal(what: str) -> UserError:
    return UserError(f"sql is read-only: {what} not allowed")


def statement_words(kind: str) -> str:
    return _STATEMENT_WORDS.get(kind, kind.replace("_", " ") if kind.isidentifier() else "this statement")


class ReadOnlySql:
    """A locked DuckDB connection on a lake (fence 1) that runs checked SQL (fences 2, 3).

    `attach(con)` loads the extensions (by path), attaches the catalog READ_ONLY and makes it
    current, and returns the lake's data folders (warehouse.lake.read_only_sql gives one for a
    home). `allow_files=False` also refuses reading local files (read_parquet('/x.parquet') and
    the like): only the lake's own tables stay readable."""

    def __init__(self, attach: Callable[[duckdb.DuckDBPyConnection], list[str]], allow_files: bool = True):
        self.allow_files = allow_files
        self.scratch = Path(tempfile.mkdtemp(prefix="teachable-sql-"))
        self.con = duckdb.connect(config={
            "secret_directory": str(self.scratch / "secrets"),  # never ~/.duckdb/stored_secrets
            "allow_community_extensions": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "extension_directory": str(self.scratch / "extensions"),
            "temp_directory": str(self.scratch / "spill"),
        })
        try:
            self._lock(attach(self.con))
            self.table_valued = self._table_valued_names()
        except BaseException:
            self.close()
            raise

    def _lock(self, data_paths: list[str]) -> None:
        readable = ["/"] if self.allow_files else data_paths
        self.con.execute(f"SET allowed_directories = [{', '.join(_literal(p) for p in readable)}]")
        self.con.execute("SET enable_external_access = false")  # cannot be switched back on
        self.con.execute("SET lock_configuration = true")  # last: every later SET is refused

    def _table_valued_names(self) -> frozenset[str]:
        rows = self.con.execute(
            "SELECT DISTINCT function_name FROM duckdb_functions() "
            "WHERE function_type IN ('table', 'table_macro', 'pragma')"
        ).fetchall()
        names = {r[0].lower() for r in rows}
        # DuckLake also offers its functions on the catalog: lake.merge_adjacent_files().
        names |= {n.removeprefix("ducklake_") for n in names if n.startswith("ducklake_")}
        return frozenset(names | POSTGRES_TABLE_FUNCTIONS)

    # --- fences 2 and 3 ---------------------------------------------------------------------
    def check(self, sql: str) -> list[duckdb.Statement]:
        """The parsed statements of `sql` if every one may run; else a UserError naming the first
        that may not. Runs nothing (parsing may read files, as IMPORT DATABASE does)."""
        statements = self._parse(sql)
        if not statements:
            raise UserError("no SQL statement given")
        for index, statement in enumerate(statements):
            kind = statement.type.name
            if kind == "SELECT":
                continue
            if kind == "EXPLAIN":
                self._check_explained(statement.query)
                continue
            # DuckDB expands a PIVOT without an IN list into a temporary ENUM type (a statement
            # with no text of its own) followed by the SELECT: that CREATE stays in memory.
            following = statements[index + 1] if index + 1 < len(statements) else None
            if kind == "CREATE" and not statement.query and following is not None \
                    and following.type.name == "SELECT" and "pivot" in keywords(sql):
                continue
            raise refusal(f"{statement_words(kind)} statements are")
        # The whole text (a PIVOT's generated statements have none of their own), and each
        # statement's (IMPORT DATABASE's come from files).
        for text in (sql, *(s.query for s in statements if s.query)):
            self._check_functions(text)
        return statements

    def _parse(self, sql: str) -> list[duckdb.Statement]:
        try:
            return self.con.extract_statements(sql)
        except duckdb.Error as exc:
            raise self._sql_error(exc) from None

    def _check_explained(self, text: str) -> None:
        """EXPLAIN ANALYZE runs what it explains: that statement must be a SELECT too."""
        verdicts = []
        for inner in explained_candidates(text):
            try:
                parsed = self.con.extract_statements(inner)
            except duckdb.Error:
                continue
            if len(parsed) == 1 and parsed[0].type.name == "SELECT" and parsed[0].query:
                verdicts.append(None)
            else:
                kinds = sorted({statement_words(p.type.name) for p in parsed}) or ["empty"]
                verdicts.append(f"EXPLAIN of {'/'.join(kinds)} statements is")
        if not verdicts:
            raise refusal("this EXPLAIN statement (its statement could not be checked) is")
        for verdict in verdicts:
            if verdict:
                raise refusal(verdict)

    def _check_functions(self, sql: str) -> None:
        for name in called_names(sql):
            if name is None:
                raise refusal("a function whose name cannot be checked is")
            if name in WRITING_SCALAR_FUNCTIONS or (
                name in self.table_valued and name not in READ_TABLE_FUNCTIONS
            ):
                raise refusal(f"{name}() is")

    # --- running ------------------------------------------------------------------------------
    def run(self, sql: str) -> pa.Table:
        """Check every statement of `sql`, then run them in order; the last one's result."""
        statements = self.check(sql)
        result = None
        try:
            for statement in statements:
                result = self.con.execute(statement).fetch_arrow_table()
        except duckdb.Error as exc:
            raise self._sql_error(exc) from None
        assert result is not None
        return result

    def _sql_error(self, exc: duckdb.Error) -> UserError:
        message = f"SQL error: {str(exc).splitlines()[0]}"
        if isinstance(exc, duckdb.PermissionException) and not self.allow_files:
            message += " (reading local files is turned off)"
        return UserError(message)

    def __enter__(self) -> "ReadOnlySql":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _tokens(sql: str) -> list[tuple[int, duckdb.token_type, str]]:
    """(position, kind, text) of every token; a token's text runs up to the next token, so it
    may end in blanks and comments. DuckDB counts positions in UTF-8 bytes; these are in
    characters (text before a name must not shift it out of sight)."""
    raw = sql.encode()
    found = duckdb.tokenize(sql)
    tokens, chars, previous = [], 0, 0
    for (start, kind), end in zip(found, [pos for pos, _ in found[1:]] + [len(raw)]):
        chars += len(raw[previous:start].decode())
        previous = start
        tokens.append((chars, kind, raw[start:end].decode()))
    return tokens


def called_names(sql: str) -> set[str | None]:
    """Every name written as a call, `name(`, lower-cased (DuckDB's names are case-insensitive,
    quoted or not); None for one this cannot read. Strings and comments are not looked into."""
    names: set[str | None] = set()
    for (pos, kind, _), (_, next_kind, next_text) in pairwise(_tokens(sql)):
        if kind not in (_TOKEN.identifier, _TOKEN.keyword):
            continue
        if next_kind != _TOKEN.operator or not next_text.startswith("("):
            continue
        match = _IDENTIFIER.match(sql, pos)
        if match is None:
            names.add(None)
        elif match.group(1) is not None:
            names.add(match.group(1).replace('""', '"').lower())
        else:
            names.add(match.group(2).lower())
    return names


def keywords(sql: str) -> set[str]:
    return {_word(sql, pos) for pos, kind, _ in _tokens(sql) if kind == _TOKEN.keyword}


def _word(text: str, pos: int) -> str:
    match = _IDENTIFIER.match(text, pos)
    return (match.group(2) or "").lower() if match else ""


def explained_candidates(text: str) -> list[str]:
    """The statement an EXPLAIN statement explains, as text: after EXPLAIN, an optional ANALYZE
    and an optional parenthesised option list. Both readings are returned when the statement
    starts with a parenthesis; the caller refuses unless every reading that parses is allowed."""
    tokens = _tokens(text)
    words = [_word(text, pos) if kind == _TOKEN.keyword else "" for pos, kind, _ in tokens]
    if not tokens or words[0] != "explain":
        return []
    i = 1
    if i < len(tokens) and words[i] in ("analyze", "analyse"):
        i += 1
    if i >= len(tokens):
        return []
    candidates = [text[tokens[i][0]:]]
    if tokens[i][1] == _TOKEN.operator and tokens[i][2].strip().startswith("("):
        depth = 0
        for j in range(i, len(tokens)):
            if tokens[j][1] == _TOKEN.operator:
                op = tokens[j][2].strip()
                depth += op.count("(") - op.count(")")
            if depth <= 0:
                if j + 1 < len(tokens):
                    candidates.append(text[tokens[j + 1][0]:])
                break
    return candidates
