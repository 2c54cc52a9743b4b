"""Prometheus metric families for code that runs on one event loop: plain counts, no locks.

prometheus_client's counters, gauges and histograms take a lock on every
update (~0.4 us a counter, ~0.8 us a histogram, and a histogram walks its
buckets in Python). The API server's request path and a controller's
workqueue update several per request or per item, always from their event
loop's thread. These families keep a plain number per label combination
instead, and register with a prometheus_client registry like any collector:
the text exposition is the same, except that counters carry no ``_created``
sample.

Not for updates from several threads at once (an ``+=`` may then lose one).
It lives in ``api`` (the lowest layer both the API server and the runtime
import) and imports nothing else of Pinnace; it knows nothing of HTTP.
"""

from __future__ import annotations

from abc import abstractmethod
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = ["LoopCounter", "LoopGauge", "LoopHistogram"]


class _CounterCell:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class _GaugeCell(_CounterCell):
    __slots__ = ()

    def set(self, value: float) -> None:
        self.value = float(value)

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount


class _HistogramCell:
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # per bucket, not cumulative; the last is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the first bucket whose bound is >= value
        self.sum += value


Cell = TypeVar("Cell", _CounterCell, _HistogramCell)


class _LoopFamily(Collector, Generic[Cell]):
    """A metric family updated from one event loop: one plain cell per label combination, made on first use.

    Label values may be any value whose ``str`` is the label (an HTTP code as an int, say): they are turned
    into text only when the family is collected."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._cells: dict[tuple[object, ...], Cell] = {}
        registry.register(self)

    @abstractmethod
    def _new_cell(self) -> Cell: ...

    def labels(self, *values: object) -> Cell:
        """The cell of one label combination."""
        cell = self._cells.get(values)
        if cell is None:
            cell = self._cells[values] = self._new_cell()
        return cell

    def _labelled(self) -> list[tuple[list[str], Cell]]:
        return [([str(v) for v in values], cell) for values, cell in list(self._cells.items())]


class LoopCounter(_LoopFamily[_CounterCell]):
    """A counter family: ``labels(...).inc()`` adds to a plain float."""

    _exposed_as: type[CounterMetricFamily | GaugeMetricFamily] = CounterMetricFamily  # ``<name>_total`` samples

    def _new_cell(self) -> _CounterCell:
        return _CounterCell()

    def collect(self) -> Iterator[Metric]:
        """The family as prometheus_client exposes it."""
        family = self._exposed_as(self.name, self.documentation, labels=self.labelnames)
        for values, cell in self._labelled():
            family.add_metric(values, cell.value)
        yield family


class LoopGauge(LoopCounter):
    """A gauge family: ``labels(...).set(v)`` (or ``inc``, ``dec``) on a plain float."""

    _exposed_as = GaugeMetricFamily

    def _new_cell(self) -> _GaugeCell:
        return _GaugeCell()

    def labels(self, *values: object) -> _GaugeCell:
        """The cell of one label combination."""
        cell = super().labels(*values)
        assert isinstance(cell, _GaugeCell)
        return cell


class LoopHistogram(_LoopFamily[_HistogramCell]):
    """A histogram family: ``labels(...).observe(v)`` counts in a plain list."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self.bounds = tuple(sorted(buckets))
        super().__init__(name, documentation, labelnames, registry)

    def _new_cell(self) -> _HistogramCell:
        return _HistogramCell(self.bounds)

    def collect(self) -> Iterator[Metric]:
        """The family as prometheus_client exposes it (cumulative ``le`` buckets, ``_sum``, ``_count``)."""
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        les = [*map(floatToGoString, self.bounds), "+Inf"]
        for values, cell in self._labelled():
            running, buckets = 0, []
            for le, count in zip(les, cell.counts, strict=True):
                running += count
                buckets.append((le, float(running)))
            family.add_metric(values, buckets, cell.sum)
        yield family
