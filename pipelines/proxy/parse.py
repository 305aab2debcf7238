"""The proxy job's parse, inside the JVM: Kafka messages (batches of whole lines, each with
its layout in the header layouts.HEADER) -> one row per line with its reason (NULL for a
record), the table's 28 columns and y/m/d/h. Spark SQL functions only, no Python per line;
the contract is bluecoat.py's, check for check and in the same order, and the tests hold the
two to the same answers on the same lines.

Per message: the layout header becomes, once, the position of each column's field (the
name table, layouts.NAMES) and the layout's field count. Per line: syslog header removed
(elff.SYSLOG), shape checked (elff.WELL_FORMED), fields cut (elff.FIELD, one
regexp_extract_all), a headerless line's layout found by its field count (layouts.BY_COUNT).
Each step sits in its own projection so that Spark computes it once per line, not once per
column that reads it.
"""
from __future__ import annotations

from pipelines.proxy import bluecoat, elff, layouts

COLUMNS = tuple(layouts.NAMES)                   # the columns taken from fields, in order
_INDEX = {column: i + 1 for i, column in enumerate(COLUMNS)}  # 1-based, in `positions`


def _f():
    from pyspark.sql import functions as F
    return F


def _true(cond):
    """NULL counts as false, so a missing field fails a check instead of skipping it."""
    return _f().coalesce(cond, _f().lit(False))


def _per_context(build):
    """Builds a function's Column expressions once per SparkContext: they are plain
    expression trees, and rebuilding several hundred of them through py4j for every
    micro-batch cost a third of a second per batch."""
    cache: dict = {}

    def cached(df):
        sc = df.sparkSession.sparkContext
        key = (id(sc), sc.applicationId)
        if key not in cache:
            cache.clear()
            cache[key] = build()
        return cache[key]
    return cached


def _positions_of(names):
    """array<int> of each column's 1-based field position in the layout `names` (lowercase
    field names), NULL where the layout lacks the column."""
    F = _f()
    found = []
    for column in COLUMNS:
        hits = [F.nullif(F.array_position(names, alias), F.lit(0)) for alias in
                layouts.NAMES[column]]
        found.append((F.coalesce(*hits) if len(hits) > 1 else hits[0]).cast("int"))
    return F.array(*found)


def _known_positions(count):
    """The positions of the well-known layout with `count` fields (NULL: none has it)."""
    F = _f()
    choice = None
    for n, layout in sorted(layouts.BY_COUNT.items()):
        at = dict(layout.positions)
        literal = F.array(*[F.lit(at[c] + 1 if c in at else None).cast("int") for c in COLUMNS])
        choice = (F.when(count == n, literal) if choice is None
                  else choice.when(count == n, literal))
    return choice


@_per_context
def _split_columns():
    F = _f()
    header = F.get(F.filter("headers", lambda h: h["key"] == layouts.HEADER), 0)["value"]
    names = F.split(F.lower(F.trim(header.cast("string"))), "[ \t]+")
    declared = F.when(header.isNotNull(), _positions_of(names)).alias("declared")
    expected = F.when(header.isNotNull(), F.size(names)).alias("expected")
    text = F.col("value").cast("string")
    as_latin1 = F.transform(F.split(F.decode("value", "ISO-8859-1"), "\n", -1),
                            lambda piece: F.encode(piece, "ISO-8859-1").cast("string"))
    lines = F.when(F.is_valid_utf8(text), F.split(text, "\n", -1)).otherwise(as_latin1)
    raw = F.col("raw")  # trim only the lines that need it: trimming every line costs
    line = F.when(raw.endswith("\r"), F.expr(r"trim(TRAILING '\r' FROM raw)")).otherwise(raw)
    keep = (F.col("line") != "") & ~F.col("line").startswith("#")
    return (declared, expected, F.posexplode(lines).alias("line_no", "raw"), line.alias("line"),
            keep)


def split_messages(kafka_df):
    """Kafka rows -> one row per data line: topic, partition, offset, line_no, line, and the
    message's layout (declared positions, expected field count; NULL when headerless).

    `split` goes through Java strings, which would turn invalid UTF-8 into U+FFFD and hide it;
    so a message that is not valid UTF-8 is split as ISO-8859-1 (one char per byte) and each
    line encoded back, keeping its exact bytes for the per-line check."""
    declared, expected, exploded, line, keep = _split_columns(kafka_df)
    cols = ["topic", "partition", "offset", "declared", "expected"]
    # the layout in a projection of its own, below the explode: once per message (in the
    # explode's projection it would be computed again for every line)
    return (kafka_df.select("topic", "partition", "offset", "value", declared, expected)
            .select(*cols, exploded).select(*cols, "line_no", line).where(keep))


@_per_context
def _parse_columns():
    F = _f()
    line = F.col("line")
    utf8 = F.is_valid_utf8(line)
    # only a line that starts as a syslog header can have one (< PRI, a month, an ISO stamp)
    first = F.substring(line, 1, 1)
    maybe_syslog = (first == "<") | first.between("A", "Z") | (F.substring(line, 11, 1) == "T")
    record = F.when(utf8, F.when(maybe_syslog, F.regexp_replace(line, elff.java(elff.SYSLOG),
                                                                  "")).otherwise(line))
    record = record.alias("record")
    # a blank record or a directive behind a syslog header: no record, no rejection. Not a
    # filter here: one would be pushed below the projection and repeat the regexp_replace
    skip = _true(F.col("record").rlike(r"^[ \t]*+\z") | F.col("record").startswith("#"))
    quoted = F.col("record").contains('"')     # without quotes, any text is well-formed
    shape = [utf8.alias("utf8"), skip.alias("skip"), (~quoted | _true(F.col("record").rlike(
        elff.java(elff.WELL_FORMED)))).alias("shape_ok")]
    tokens = F.when(F.col("utf8") & F.col("shape_ok"),
                    F.regexp_extract_all("record", F.lit(elff.java(elff.FIELD)), 0)
                    ).alias("tokens")
    count = F.size("tokens")
    chosen = F.coalesce(F.col("declared"), _known_positions(count)).alias("positions")

    fields = [_unquote(F.try_element_at("tokens", F.element_at("positions", _INDEX[c])))
              .alias(f"f_{c}") for c in COLUMNS]

    def raw(column: str):
        """The column's field, quotes removed; NULL when the layout lacks it."""
        return F.col(f"f_{column}")

    def text(column: str):
        value = raw(column)
        return F.when(value == bluecoat.EMPTY, F.lit("")).otherwise(value)

    def is_empty(column: str):
        return raw(column).isin("", bluecoat.EMPTY)

    def integer(column: str):
        value = raw(column)
        return F.when(_true(value.rlike(elff.java(elff.INTEGER))), value.try_cast("int"))

    def nulled(column: str):
        return raw(column).isNotNull() & ~is_empty(column) & integer(column).isNull()

    date, tod = raw("p_date"), raw("p_time")
    reason = F.when(F.col("skip"), F.lit(None).cast("string")) \
        .when(~F.col("utf8"), F.lit(bluecoat.INVALID_UTF8)) \
        .when(~F.col("shape_ok"), _shape_reason(F.col("record")))
    reason = reason.when(F.col("declared").isNotNull() & (count != F.col("expected")),
                         F.format_string(bluecoat.WRONG_FIELD_COUNT, count,
                                         F.col("expected").cast("string")))
    reason = reason.when(F.col("positions").isNull(),
                         F.format_string(bluecoat.WRONG_FIELD_COUNT, count,
                                         F.lit(layouts.KNOWN_COUNTS)))
    reason = reason.when(F.element_at("positions", _INDEX["p_date"]).isNull() |
                         F.element_at("positions", _INDEX["p_time"]).isNull(),
                         F.lit(bluecoat.NO_DATE_TIME))
    reason = reason.when(~_true(date.rlike(elff.java(elff.DATE)) &
                                F.try_to_date(date, "yyyy-MM-dd").isNotNull()),
                         F.lit(bluecoat.BAD_DATE))
    reason = reason.when(~_true(tod.rlike(elff.java(elff.TIME))), F.lit(bluecoat.BAD_TIME))

    values = {c: integer(c) if c in bluecoat.INT_COLUMNS else text(c) for c in COLUMNS}
    values["p_time"] = F.substring(tod, 1, 8)
    parts = [F.element_at("positions", _INDEX[c]) for c in layouts.URI_PARTS]
    values["fulluri"] = F.when(parts[0].isNull() & parts[1].isNull() & parts[2].isNull(),
                               F.lit(None).cast("string")).otherwise(
        F.concat(*[F.coalesce(values[c], F.lit("")) for c in layouts.URI_PARTS]))
    table = [values[c.name].cast(c.hive_type.lower()).alias(c.name)
             for c in bluecoat.PROXY.columns]
    partitions = [F.substring(date, 1, 4).alias("y"), F.substring(date, 6, 2).alias("m"),
                  F.substring(date, 9, 2).alias("d"), F.substring(tod, 1, 2).alias("h")]
    flags = [_true(nulled(c)).alias(f"nulled_{c}") for c in bluecoat.INT_COLUMNS]
    outputs = ["topic", "partition", "offset", "line_no", "line", "skip", reason.alias("reason"),
               *table, *partitions, *flags]
    return record, shape, tokens, chosen, fields, outputs


def _unquote(value):
    F = _f()
    return F.when(value.startswith('"'), F.substring(value, F.lit(2), F.length(value) - 2)) \
        .otherwise(value)


def parse_lines(lines_df):
    """Lines -> the same rows plus `skip` (a blank record or a directive behind a syslog
    header: neither row nor rejection), `reason` (NULL for a record), the 28 table columns,
    y/m/d/h and one nulled_<column> flag per integer column. Mirrors bluecoat.parse."""
    record, shape, tokens, chosen, fields, outputs = _parse_columns(lines_df)
    return (lines_df.select("*", record).select("*", *shape).select("*", tokens)
            .select("*", chosen).select("*", *fields).select(*outputs))


def _shape_reason(record):
    """Why a valid-UTF-8 record is not well-formed fields."""
    F = _f()
    return F.when(record.rlike(elff.java(elff.UNCLOSED)), F.lit(bluecoat.UNCLOSED_QUOTE)) \
        .otherwise(F.lit(bluecoat.TEXT_AFTER_QUOTE))


def observed(parsed_df, observation):
    """Counts lines, rejections and nulled cells as the rows go by, and notes which messages
    hold the rejected lines (no extra Spark job for any of it). It also stands between the
    parse and the filter on `reason` that follows: pushed below this node, that filter would
    inline the parse once for every field it reads. Both outputs filter above it."""
    F = _f()
    rejected = F.col("reason").isNotNull()
    kept = is_row()
    nulled = [F.sum(F.when(kept & F.col(f"nulled_{c}"), 1).otherwise(0)).alias(f"nulled_{c}")
              for c in bluecoat.INT_COLUMNS]
    return parsed_df.observe(
        observation, F.count(F.when(~F.col("skip"), 1)).alias("lines"),
        F.count(F.col("reason")).alias("rejected"),
        F.collect_set(F.when(rejected, F.struct("partition", "offset"))).alias("messages"),
        *nulled)


def is_row():
    F = _f()
    return F.col("reason").isNull() & ~F.col("skip")


def nulled_counts(metrics: dict) -> dict[str, int]:
    """{column: cells left NULL} from an observation's metrics (columns with none omitted)."""
    return {c: int(metrics.get(f"nulled_{c}") or 0) for c in bluecoat.INT_COLUMNS
            if metrics.get(f"nulled_{c}")}


def messages_at(kafka_df, where: list) -> object:
    """Only the messages at these (partition, offset) pairs: the rejected lines' second pass
    parses the few messages that hold them, not the whole batch again."""
    F = _f()
    key = F.concat_ws(":", F.col("partition").cast("string"), F.col("offset").cast("string"))
    return kafka_df.where(key.isin([f"{m['partition']}:{m['offset']}" for m in where]))


def table_rows(parsed_df, observation):
    """Records: exactly the table's columns, then y/m/d/h for the partition folders."""
    F = _f()
    return observed(parsed_df, observation).where(is_row()) \
        .select(*bluecoat.PROXY.column_names, *bluecoat.PARTITION_COLUMNS)


def rejected_rows(parsed_df, batch_id: int, observation):
    """What an operator needs to find and fix a rejected line; line_hex holds the exact
    bytes when the line is not UTF-8 (line then shows U+FFFD in their place)."""
    F = _f()
    line = F.col("line")
    return observed(parsed_df, observation).where(F.col("reason").isNotNull()).select(
        F.lit(batch_id).alias("batch_id"), "topic", "partition", "offset", "line_no", "reason",
        F.make_valid_utf8(line).alias("line"),
        F.when(~F.is_valid_utf8(line), F.hex(line.cast("binary"))).alias("line_hex"))
