"""The scripts' one reader of a results folder's summary.json.

Every benchmark script reads a run through this module and takes the
product's own verdicts (a step holds when the aggregator judged it and it
broke nothing; the breaking point and what limited it) rather than rules
of its own. `schema/summary.schema.json` says what each field means.

    import summary
    s = summary.latest(out_dir)        # the newest results folder under out_dir
    s.p("e2e"), s.p("e2e", "p99")      # ms; NaN when not measured
    s.step_verdict(0)                  # "holds", "not judged" or "breaks: ..."
"""
import json
import math
import os


class Summary:
    """One run's summary.json, with the figures the scripts print."""

    def __init__(self, data, folder):
        self.data = data
        self.folder = folder

    def __getitem__(self, key):
        return self.data[key]

    def get(self, key, default=None):
        return self.data.get(key, default)

    @property
    def totals(self):
        return self.data["totals"]

    def p(self, kind, q="p99_99"):
        """A latency's percentile over the run, ms (NaN when not measured)."""
        lat = self.data["latency_ms"].get(kind)
        return lat[q] if lat else math.nan

    @property
    def steal(self):
        """The hypervisor's share of the machine's CPU time during the run."""
        return self.data.get("host_steal") or 0.0

    def steal_text(self):
        return f"{self.steal * 100:.1f}%"

    @property
    def sender_us(self):
        return self.data["cpu"]["sender_us_per_event"] or 0.0

    @property
    def receiver_us(self):
        return self.data["cpu"]["receiver_us_per_event"] or 0.0

    @property
    def sut_us(self):
        """The SUT's CPU per event it accepted (0 without its counters)."""
        sut = self.data.get("sut") or {}
        return sut.get("cpu_ns", 0) / 1e3 / max(sut.get("accepted", 0), 1)

    def held(self):
        """The rates of the steps that held, as the aggregator judged them."""
        return [st["rps"] for st in self.data["steps"] if st["judged"] and not st["breaks"]]

    def step_verdict(self, i):
        st = self.data["steps"][i]
        if not st["judged"]:
            return "not judged"
        return "holds" if not st["breaks"] else "breaks: " + "; ".join(st["breaks"])

    def stopped(self):
        """Why the run's steps stopped holding: its breaking point and what
        limited it, or that every step held."""
        bp = self.data.get("breaking_point")
        if not bp:
            return "every step held"
        return f'breaks at {bp["rps"]}/s: {"; ".join(bp["reasons"])} (limited by {bp["limited_by"]})'

    def measured_seconds(self):
        """The pace's length, s (`RPS:SECONDS,...`; a named pace's steps too)."""
        return sum(st["seconds"] for st in self.data["steps"])


def load(path):
    """The summary of a results folder (or of its summary.json)."""
    file = path if path.endswith(".json") else os.path.join(path, "summary.json")
    with open(file) as f:
        return Summary(json.load(f), os.path.dirname(file))


def latest(out):
    """The summary of the newest results folder under `out`."""
    dirs = [os.path.join(out, d) for d in os.listdir(out)]
    dirs = [d for d in dirs if os.path.isfile(os.path.join(d, "summary.json"))]
    if not dirs:
        raise FileNotFoundError(f"no results folder in {out}")
    return load(max(dirs, key=os.path.getmtime))
