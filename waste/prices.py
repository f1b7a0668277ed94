"""What idle resources cost a month: the one price catalog of the waste scanner.

Every figure is AWS's public on-demand list price in USD, us-east-1 (N. Virginia), read from the pricing
pages on 2026-11-15; a region other than us-east-1 multiplies the EBS and snapshot figures by its region
factor (the Elastic IP charge is the same in every commercial region). An operator overrides any figure
with the WASTE_PRICES setting (same keys, e.g. {"ebs_gb_month": {"gp3": "0.088"}, "region_factors":
{"eu-west-1": "1.1"}}): merged over these defaults, one level deep.

Sources:
- Public IPv4 / Elastic IP: https://aws.amazon.com/vpc/pricing/ ("Public IPv4 address", $0.005 per IP per
  hour, charged since 2024-02-01 whether or not the address is attached; an idle address is pure waste).
- EBS volumes: https://aws.amazon.com/ebs/pricing/ — gp3 $0.08/GB-month with 3,000 IOPS and 125 MB/s
  included, then $0.005 per provisioned IOPS-month and $0.04 per provisioned MB/s-month above them; gp2
  $0.10; io1 and io2 $0.125/GB-month plus $0.065 per provisioned IOPS-month (io2's lower tiers above
  32,000 IOPS are not modelled: an upper bound there); st1 $0.045; sc1 $0.015; magnetic (standard) $0.05
  (its I/O requests are not counted: an idle volume makes none).
- Snapshots: https://aws.amazon.com/ebs/pricing/ — standard tier $0.05/GB-month of stored (incremental)
  data. The EC2 API does not tell a snapshot's stored size, only its volume's size, so a snapshot's cost is
  an upper bound (the full volume size, as if nothing were shared with other snapshots).
- Region factors: each region's gp3 price over us-east-1's (e.g. eu-west-1 $0.088 -> 1.10), applied to all
  EBS and snapshot figures; within about 10 % of each type's own regional price. A region not listed counts
  1.0 and the finding says its cost is estimated at us-east-1 prices.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

PRICES_AS_OF = "2026-11-15"
HOURS_PER_MONTH = Decimal(730)  # AWS's own convention for monthly figures

DEFAULTS = {
    "elastic_ip_hourly": "0.005",
    "ebs_gb_month": {
        "gp3": "0.08",
        "gp2": "0.10",
        "io1": "0.125",
        "io2": "0.125",
        "st1": "0.045",
        "sc1": "0.015",
        "standard": "0.05",
    },
    "ebs_iops_month": {"gp3": "0.005", "io1": "0.065", "io2": "0.065"},
    "ebs_included_iops": {"gp3": "3000"},
    "ebs_throughput_mbps_month": {"gp3": "0.04"},
    "ebs_included_throughput_mbps": {"gp3": "125"},
    "snapshot_gb_month": "0.05",
    "region_factors": {
        "us-east-1": "1",
        "us-east-2": "1",
        "us-west-2": "1",
        "us-west-1": "1.2",
        "ca-central-1": "1.1",
        "eu-west-1": "1.1",
        "eu-west-2": "1.16",
        "eu-west-3": "1.16",
        "eu-central-1": "1.19",
        "eu-north-1": "1.045",
        "ap-south-1": "1.14",
        "ap-southeast-1": "1.2",
        "ap-southeast-2": "1.2",
        "ap-northeast-1": "1.2",
        "ap-northeast-2": "1.14",
        "sa-east-1": "1.9",
    },
}

CENT = Decimal("0.0001")


@dataclass(frozen=True)
class Cost:
    monthly: Decimal
    upper_bound: bool = False  # the real figure is at most this (snapshots)
    estimated_region: bool = False  # no factor is known for the region: us-east-1 prices

    @property
    def note(self) -> str:
        notes = []
        if self.upper_bound:
            notes.append("upper bound: AWS does not tell a snapshot's billed size")
        if self.estimated_region:
            notes.append("at us-east-1 prices")
        return "; ".join(notes)


def catalog() -> dict:
    """The defaults with the operator's WASTE_PRICES merged over them (one level deep)."""
    merged = {key: (dict(value) if isinstance(value, dict) else value) for key, value in DEFAULTS.items()}
    for key, value in (getattr(settings, "WASTE_PRICES", None) or {}).items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return merged


def _d(value) -> Decimal:
    return Decimal(str(value))


def _factor(prices: dict, region: str) -> tuple[Decimal, bool]:
    factors = prices["region_factors"]
    if region in factors:
        return _d(factors[region]), False
    return Decimal(1), True


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def elastic_ip_monthly(region: str) -> Cost:
    return Cost(_money(_d(catalog()["elastic_ip_hourly"]) * HOURS_PER_MONTH))


def volume_monthly(*, region: str, volume_type: str, size_gb: int, iops: int | None = None, throughput=None) -> Cost:
    """Storage by type, plus the provisioned IOPS and throughput a type bills above what it includes."""
    prices = catalog()
    factor, estimated = _factor(prices, region)
    per_gb = prices["ebs_gb_month"].get(volume_type, prices["ebs_gb_month"]["gp2"])
    total = _d(per_gb) * size_gb
    if volume_type in prices["ebs_iops_month"] and iops:
        billable = max(0, int(iops) - int(_d(prices["ebs_included_iops"].get(volume_type, 0))))
        total += _d(prices["ebs_iops_month"][volume_type]) * billable
    if volume_type in prices["ebs_throughput_mbps_month"] and throughput:
        billable = max(0, int(throughput) - int(_d(prices["ebs_included_throughput_mbps"].get(volume_type, 0))))
        total += _d(prices["ebs_throughput_mbps_month"][volume_type]) * billable
    return Cost(_money(total * factor), estimated_region=estimated)


def snapshot_monthly(*, region: str, volume_size_gb: int) -> Cost:
    prices = catalog()
    factor, estimated = _factor(prices, region)
    return Cost(
        _money(_d(prices["snapshot_gb_month"]) * volume_size_gb * factor), upper_bound=True, estimated_region=estimated
    )
