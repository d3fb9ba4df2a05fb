"""The main job, ``roonsbi demo``: the whole chain on the analytic off-shell toy (see :mod:`.run`), with its
HistFactory control region (:mod:`.control_region`) and the optional trained-network row (:mod:`.networks`)."""

from __future__ import annotations

__all__: list[str] = []
