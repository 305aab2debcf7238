"""Proxy collector side: Blue Coat access logs (plain or gzip), published as messages of whole
lines (common/lines.py); the job on the worker side parses them. The master reads each log's
ELFF `#Fields:` directives (behind a syslog header or not): every message carries the layout
of its lines in the Kafka header layouts.HEADER, and a message never holds two layouts. Lines
before any directive have the layout `pipelines.<name>.fields` names, if set."""
from __future__ import annotations

from common.errors import ConfigError
from common.lines import LineBatchCollector
from pipelines.proxy import elff, layouts


def directive_layout(line: bytes) -> str | None:
    """The header value of the layout a `#Fields:` line declares; None for other lines."""
    names = elff.directive_fields(line)
    return " ".join(names) if names else None


class ProxyCollector(LineBatchCollector):
    source = "proxy"
    directive_marker = b"#Fields:"
    layout_header = layouts.HEADER

    def check_environment(self) -> None:
        """pipelines.<name>.fields must name a layout with a date and a time."""
        try:
            if self.pipeline.fields is not None:
                layouts.check_fields(self.pipeline.fields)
        except ValueError:
            raise ConfigError(
                f"pipelines.{self.pipeline.name}.fields: expected one of "
                f"{', '.join(layouts.WELL_KNOWN)} or ELFF field names including date and "
                f"time, got {self.pipeline.fields!r}") from None

    def directive(self, line: bytes) -> str | None:
        return directive_layout(line)

    def default_layout(self) -> str | None:
        configured = layouts.configured(self.pipeline.fields)
        return configured.header if configured else None


COLLECTOR = ProxyCollector
