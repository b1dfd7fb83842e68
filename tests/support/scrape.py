"""Reading the Prometheus metrics of the in-process servers as a scraper reads them: the
text exposition of the registry, parsed back."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    """One scrape: every sample by name and labels."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, **labels: str) -> float:
        """The sample ``name`` with exactly ``labels``; 0 when not exposed yet."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)


def scrape() -> Scrape:
    text = generate_latest(REGISTRY).decode()
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return Scrape(samples)


def delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)
