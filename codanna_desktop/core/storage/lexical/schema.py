"""The lexical index's fields, and the analyzers they are read with.

Only the chunk id is stored; the catalog keeps the text. Analyzer names carry a version:
changing the analysis changes the schema, so an index built with the old analysis no
longer opens and is rebuilt.
"""

from __future__ import annotations

import tantivy

from codanna_desktop.core.storage.lexical.analysis import IDENT_ANALYZER, SPLIT_ANALYZER

_SPLIT = "code_split_v1"
_IDENT = "code_ident_v1"


def _build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("chunk_id", stored=True, indexed=True, fast=True)
    sb.add_unsigned_field("file_id", indexed=True)
    sb.add_unsigned_field("root_id", indexed=True)
    sb.add_text_field("language", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("kind", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("path_raw", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("path", tokenizer_name=_SPLIT, index_option="freq")
    sb.add_text_field("symbol", tokenizer_name=_SPLIT)
    sb.add_text_field("symbol_ident", tokenizer_name=_IDENT, index_option="freq")
    sb.add_text_field("body", tokenizer_name=_SPLIT)
    sb.add_text_field("body_ident", tokenizer_name=_IDENT, index_option="freq")
    sb.add_text_field("name", tokenizer_name=_IDENT, index_option="basic")
    sb.add_text_field("name_split", tokenizer_name=_SPLIT)
    sb.add_text_field("name_exact", tokenizer_name="raw", index_option="basic")
    return sb.build()


SCHEMA = _build_schema()


def register_analyzers(index: tantivy.Index) -> None:
    """Tantivy does not persist custom analyzers: register them on every open."""
    index.register_tokenizer(_SPLIT, SPLIT_ANALYZER)
    index.register_tokenizer(_IDENT, IDENT_ANALYZER)
