"""Proxy collector side: Blue Coat access logs (plain or gzip), published as messages of whole
lines (common/lines.py); the job on the worker side parses them."""
from __future__ import annotations

from common.lines import LineBatchCollector


class ProxyCollector(LineBatchCollector):
    source = "proxy"


COLLECTOR = ProxyCollector
