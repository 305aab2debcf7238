"""Flow collector side: nfcapd files, named nfcapd.YYYYMMDDhhmm[ss]."""
from __future__ import annotations

import re
from datetime import datetime

from common.binary import BinaryFileCollector
from common.layout import HourPartition
from common.plugin import Collected, RejectedFile
from common.watcher import matches_supported

# nfcapd.201601040900, nfcapd.20160104090000, with nfcapd -Z: nfcapd.201601040900+0100
_NAME_TIME = re.compile(r"(?:^|\.)(\d{12}|\d{14})(?:[+-]\d{4})?$")


def flow_file_time(name: str) -> datetime:
    """Time stamp of an nfcapd file name; RejectedFile when it carries none."""
    match = _NAME_TIME.search(name)
    if match:
        digits = match.group(1)
        try:
            return datetime.strptime(digits, "%Y%m%d%H%M%S" if len(digits) == 14 else "%Y%m%d%H%M")
        except ValueError:
            pass
    raise RejectedFile(f"file name '{name}' carries no time stamp: expected "
                       "nfcapd.YYYYMMDDhhmm or nfcapd.YYYYMMDDhhmmss")


def is_in_progress(name: str) -> bool:
    """nfcapd writes into nfcapd.current.<pid> and renames it when the interval closes."""
    return name.startswith("nfcapd.current") or name.endswith(".tmp")


class FlowCollector(BinaryFileCollector):
    source = "flow"

    def accepts(self, name: str) -> bool:
        return matches_supported(name, self.pipeline.supported_files) and not is_in_progress(name)

    def file_hour(self, item: Collected) -> HourPartition:
        return HourPartition.of(flow_file_time(item.name))


COLLECTOR = FlowCollector
