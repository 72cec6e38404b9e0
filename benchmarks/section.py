"""What a benchmark's ``run()`` returns: its markdown section and the headline ratios for RESULTS.md's summary."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Ratio:
    """One measured ratio: ``what`` is compared, how (``meaning``), and the target it is held to, if any.

    >>> Ratio("cache build / uncached epoch", 1.18, "x (lower is better)", target=1.3, higher_is_better=False).verdict
    'met'
    """

    what: str
    value: float
    meaning: str
    target: float | None = None
    higher_is_better: bool = False

    @property
    def verdict(self) -> str:
        """``met`` / ``**not met**`` against the target; ``—`` without one."""
        if self.target is None:
            return "—"
        met = self.value >= self.target if self.higher_is_better else self.value <= self.target
        return "met" if met else "**not met**"

    @property
    def target_text(self) -> str:
        if self.target is None:
            return "—"
        return f"{'>=' if self.higher_is_better else '<='} {self.target:g}"


@dataclass(frozen=True)
class Section:
    """A benchmark's result: the markdown section of RESULTS.md and its headline ratios."""

    markdown: str
    ratios: list[Ratio] = field(default_factory=list)


def summary_table(sections: dict[str, Section]) -> str:
    """One markdown table of every headline ratio, benchmark by benchmark.

    >>> print(summary_table({"demo": Section("", [Ratio("fuse / plain", 1.02, "x time per step", 1.05)])}))
    | benchmark | measurement | ratio | target | verdict |
    |---|---|---:|---|---|
    | demo | fuse / plain | 1.02 x time per step | <= 1.05 | met |
    """
    lines = ["| benchmark | measurement | ratio | target | verdict |", "|---|---|---:|---|---|"]
    for name, section in sections.items():
        for ratio in section.ratios:
            lines.append(
                f"| {name} | {ratio.what} | {ratio.value:.3g} {ratio.meaning} | {ratio.target_text} | {ratio.verdict} |"
            )
    return "\n".join(lines)
